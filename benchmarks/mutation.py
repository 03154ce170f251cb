"""Mutation testing of the compiler's core with cosmic-ray: each module is
mutated in a scratch copy of the checkout (never in place), against the test
files that cover it, one mutant at a time; prints the score per module
(killed / all mutants that ran; a timeout counts as killed) and the survivors.

    python benchmarks/mutation.py                          # every module of passes/, and ir/ops.py
    python benchmarks/mutation.py --modules passes/timing.py --floor 0.9
    python benchmarks/mutation.py --modules passes/channels.py --sample 60 --seed 1

A mutant's run is cheap without being weaker: a fork server
(``mutation_server.py``) imports torch, hypothesis and the other libraries
once and forks a child per mutant, which imports segc afresh from the
mutated copy; the child runs only the module's tests that called the
function holding the mutated lines in the unmutated run (recorded then),
every test when a change is outside a function body, and every test that
starts a process (``mutation_select.py``). ``--every-test`` runs all of a
module's tests in a fresh interpreter per mutant instead (same kills,
about 3 times slower on passes/channels.py).

``--timeout``: seconds a mutant's tests may run before it counts as killed
(a mutant that loops forever); default 5 times the unmutated run, at least
20 s.
``--floor``: exit status 1 when a module's score is below it (CI).
``--json FILE``: the scores and survivors, for RESULTS.md.
``--survivors-of FILE``: run only the mutants that survived in that earlier
``--json`` (the module unchanged since, tests added); the mutants it killed
stay killed, so the score counts them with those killed now.
``--sample N --seed S``: a seeded random choice of N of a module's mutants
(the same N and S choose the same mutants); the score is then a sample
estimate, printed and written with its 95 % Wilson interval.

Why a copy: the package maps folders (``segc.passes`` is ``passes/``), so the
copy gets a ``segc/`` whose subpackages link to the copied folders, and the
tests import it through PYTHONPATH ahead of the editable install.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from mutation_select import PYTEST_OPTIONS

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("dsl", "ir", "passes", "backends", "train", "segc", "tests", "examples", "docs")
SUBPACKAGES = ("dsl", "ir", "passes", "backends", "train")
SERVER = Path(__file__).resolve().parent / "mutation_server.py"
SOCKET = "mutation.sock"
ORIGINAL, RECORD = "mutation-original.py", "mutation-record.json"  # in the scratch copy

HARDWARE_TESTS = ("tests/test_hwmodel.py", "tests/test_engines.py")
JSON_TESTS = ("tests/test_json_graphs_alike.py",)  # graphs whose names are not interned literals
PRUNING_TESTS = (*JSON_TESTS, "tests/test_prune_groups_by_hand.py", "tests/test_prune_pass_by_hand.py",
                 "tests/test_prune.py", "tests/test_prune_torch.py", "tests/test_prune_shuffle.py",
                 "tests/test_prune_pointwise.py", "tests/test_prune_deconv.py", "tests/test_ops_channels.py")
OPS_TESTS = ("tests/test_ops_table.py", "tests/test_ops_conv.py", "tests/test_ops_pool_upsample.py",
             "tests/test_ops_add_concat_linear.py", "tests/test_ops_channels.py", "tests/test_ops_attributes.py",
             "tests/test_ops_shape_edges.py", "tests/test_ops_mutants_by_hand.py")
# The op table's tests but the two that run torch modules (half the run's time; they test slice and
# shuffle, whose rules live in ir/ops_channels.py).
OPS_TABLE_TESTS = (*OPS_TESTS, *(f"--deselect tests/test_ops_channels.py::test_{name}" for name in (
    "module_matches_chunk_and_channel_shuffle", "pruned_slices_equal_masked")))
DEFORM_TESTS = ("tests/test_deform_pass.py", "tests/test_deform_pass_decisions.py", "tests/test_deform_cost.py")
# The deform pass's tests but those that import torch or onnx (a third of the run's time; they
# test the backends' side of a decision the other tests check on the graph).
DEFORM_PASS_TESTS = (*DEFORM_TESTS, *(f"--deselect tests/test_deform_pass.py::test_{name}" for name in (
    "the_useful_bound_samples_exactly_as_unbounded_and_one_less_does_not",
    "zero_bound_with_rounding_is_a_plain_convolution_exactly", "exports_follow_the_deform_decisions")))
# ... with the dconv cost rules by hand and the engine tests of deformable layers: gathers, the
# depthwise engine's taps, line-buffer ports.
DCONV_COST_TESTS = (*DEFORM_PASS_TESTS, "tests/test_dconv_cost_by_hand.py", *(
    f"tests/test_engines.py::test_{name}" for name in (
    "gathers_cost_latency_per_scattered_access", "depthwise_deformable_samples_through_the_engines_taps",
    "scattered_taps_are_read_through_the_line_buffer_ports")))
SEARCH_TESTS = ("tests/test_search.py",)
DSE_TESTS = ("tests/test_dse.py", "tests/test_dse_by_hand.py")
# The test files that cover each module (any other: the test files named after it).
TESTS = {
    "passes/hwmodel.py": (*HARDWARE_TESTS, "tests/test_hwmodel_geometry.py", "tests/test_hwmodel_tiles.py",
                          "tests/test_tile.py", *JSON_TESTS),
    "passes/tile.py": ("tests/test_tile.py", *HARDWARE_TESTS),
    "passes/timing.py": HARDWARE_TESTS,
    "passes/engines.py": (*HARDWARE_TESTS, "tests/test_engines_streamed.py",
                          "tests/test_deconv_cost.py::test_one_deconv_by_hand", *JSON_TESTS),
    "passes/cost.py": (*HARDWARE_TESTS, "tests/test_cost_rules.py", *JSON_TESTS),
    "passes/modes.py": HARDWARE_TESTS,
    "passes/widths.py": ("tests/test_quant_cost.py", "tests/test_widths_by_hand.py", *HARDWARE_TESTS),
    "passes/resources.py": ("tests/test_quant_cost.py", "tests/test_resources_by_hand.py",
                            "tests/test_hls_config_quant.py"),
    "passes/base.py": ("tests/test_pipeline_verify.py", "tests/test_pipeline_run_by_hand.py", *HARDWARE_TESTS),
    "passes/registry.py": ("tests/test_pipeline_verify.py", "tests/test_pipeline_parse_by_hand.py",
                           "tests/test_cli.py"),
    "passes/dse.py": DSE_TESTS,
    "passes/fastmodel.py": ("tests/test_engines.py", *DSE_TESTS, *JSON_TESTS, "tests/test_deconv_cost.py",
                            "tests/test_deform_cost.py", "tests/test_quant_cost.py"),
    "passes/dconv_cost.py": DCONV_COST_TESTS,
    "passes/deform.py": DEFORM_PASS_TESTS,
    "passes/channels.py": PRUNING_TESTS,
    "passes/channel_flow.py": (*PRUNING_TESTS, "tests/test_channel_flow_by_hand.py"),
    "passes/prune.py": PRUNING_TESTS,
    "passes/prune_weights.py": PRUNING_TESTS,
    "passes/prune_rates.py": ("tests/test_prune.py", "tests/test_prune_cli.py", "tests/test_prune_rates_by_hand.py",
                              "tests/test_prune_pass_by_hand.py"),
    "passes/pruned_cost.py": (*SEARCH_TESTS, "tests/test_engines.py", "tests/test_pruned_cost_by_hand.py"),
    "passes/proxy.py": (*SEARCH_TESTS, "tests/test_proxy_by_hand.py"),
    "passes/search_space.py": (*SEARCH_TESTS, "tests/test_width_search.py", "tests/test_proxy_by_hand.py"),
    "passes/search_pymoo.py": (*SEARCH_TESTS, "tests/test_search_background.py"),
    "passes/calibrate.py": ("tests/test_calibrate_physical.py", "tests/test_calibration_cv.py",
                            "tests/test_calibrate_by_hand.py"),
    "ir/ops.py": OPS_TABLE_TESTS,
}
DEFAULT_MODULES = (*sorted(str(p.relative_to(ROOT)) for p in (ROOT / "passes").glob("*.py")
                           if p.name != "__init__.py"), "ir/ops.py")


def tests_for(module: str) -> tuple[str, ...]:
    """The mapped test files, else those named after the module."""
    if module in TESTS:
        return TESTS[module]
    stem = Path(module).stem
    found = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob(f"test_{stem}*.py")))
    if not found:
        raise SystemExit(f"mutation: no tests known for {module}: add it to TESTS in {Path(__file__).name}")
    return found


def scratch_copy(into: Path) -> Path:
    """A copy of the checkout importable as ``segc`` from ``into``."""
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, into / folder, symlinks=True,
                        ignore=shutil.ignore_patterns(".hypothesis", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    for sub in SUBPACKAGES:
        (into / "segc" / sub).symlink_to(Path("..") / sub)
    return into


def config(module: str, tests: tuple[str, ...], timeout: float, every_test: bool = False) -> str:
    """cosmic-ray's settings: the test command runs the tests that can see the mutant (``mutation_select.py``),
    or with ``every_test`` all of ``tests``."""
    pytest_args = [part for entry in tests for part in shlex.split(entry)]  # "--deselect ID" entries too
    if every_test:
        command = [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *pytest_args]
    else:
        command = [sys.executable, str(SERVER), "run", SOCKET, "--module", module, "--original", ORIGINAL,
                   "--record", RECORD, "--", *pytest_args]
    return "\n".join([
        "[cosmic-ray]", f"module-path = {json.dumps(module)}", f"timeout = {timeout}", "excluded-modules = []",
        f"test-command = {json.dumps(shlex.join(command))}", "", "[cosmic-ray.distributor]", 'name = "local"', "",
    ])


def environment(copy: Path) -> dict[str, str]:
    """The copy ahead of the editable install; one thread."""
    return {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}


@contextmanager
def fork_server(copy: Path, wait: float = 300.0) -> Iterator[None]:
    """``mutation_server.py serve`` in the copy while the block runs."""
    server = subprocess.Popen([sys.executable, str(SERVER), "serve", SOCKET], cwd=copy, env=environment(copy))
    try:
        deadline = time.monotonic() + wait
        while not (copy / SOCKET).exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mutation: the fork server did not start (status {server.poll()})")
            time.sleep(0.1)
        yield
    finally:
        server.kill()
        server.wait()


def cosmic_ray(args: list[str], cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *args], cwd=cwd, env=environment(cwd),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mutation: cosmic-ray {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def mutant_labels(connection: sqlite3.Connection) -> dict[str, str]:
    """Each mutant's job id by its label."""
    specs = connection.execute(
        "SELECT job_id, start_pos_row, start_pos_col, operator_name, occurrence FROM mutation_specs").fetchall()
    return {label(*where): job for job, *where in specs}


def keep_only(database: Path, kept: list[str]) -> int:
    """Take every mutant but ``kept`` (labels) out of a session ``cosmic-ray init`` made;
    returns how many it had."""
    connection = sqlite3.connect(database)
    with connection:
        jobs = mutant_labels(connection)
        if not set(kept) <= set(jobs):
            raise SystemExit("mutation: the module's mutants are not those of the earlier run: run it whole")
        dropped = [(job,) for name, job in jobs.items() if name not in kept]
        connection.executemany("DELETE FROM mutation_specs WHERE job_id = ?", dropped)
        connection.executemany("DELETE FROM work_items WHERE job_id = ?", dropped)
    connection.close()
    return len(jobs)


def sample_of(database: Path, size: int, seed: int) -> list[str]:
    """A seeded random choice of ``size`` mutants' labels (all of them when fewer)."""
    connection = sqlite3.connect(database)
    labels = sorted(mutant_labels(connection))
    connection.close()
    return sorted(random.Random(seed).sample(labels, min(size, len(labels))))


@dataclass(frozen=True)
class Options:
    timeout: float | None = None  # None: 5 × the baseline's run, at least 20 s
    sample: int | None = None
    seed: int = 0
    every_test: bool = False  # each mutant against all its module's tests, not only those that can see it


def run_module(module: str, options: Options, earlier: dict | None = None) -> dict:
    """Score and survivors of one module (only ``earlier``'s survivors, when given)."""
    tests = tests_for(module)
    timeout, sampled = options.timeout, None
    with tempfile.TemporaryDirectory(prefix="segc-mutation-") as folder:
        copy = scratch_copy(Path(folder))
        shutil.copy2(copy / module, copy / ORIGINAL)
        (copy / "cr.toml").write_text(config(module, tests, timeout or 600.0, options.every_test), encoding="utf-8")
        cosmic_ray(["init", "cr.toml", "cr.sqlite"], copy)
        if earlier:
            keep_only(copy / "cr.sqlite", earlier["survivors"])
        elif options.sample:
            chosen = sample_of(copy / "cr.sqlite", options.sample, options.seed)
            sampled = {"size": len(chosen), "seed": options.seed, "of": keep_only(copy / "cr.sqlite", chosen)}
        with nullcontext() if options.every_test else fork_server(copy):
            start = time.monotonic()
            cosmic_ray(["baseline", "cr.toml"], copy)
            if timeout is None:
                timeout = max(20.0, 5 * (time.monotonic() - start))
                (copy / "cr.toml").write_text(config(module, tests, round(timeout), options.every_test),
                                              encoding="utf-8")
            cosmic_ray(["exec", "cr.toml", "cr.sqlite"], copy)
        dump = cosmic_ray(["dump", "cr.sqlite"], copy)
    result = summarise(module, tests, [json.loads(line) for line in dump.splitlines() if line.strip()])
    result = with_earlier(result, earlier) if earlier else result
    sampled = sampled or (earlier or {}).get("sample")
    return {**result, "sample": {**sampled, "wilson95": wilson(result["killed"], result["total"])}} if sampled \
        else result


def wilson(successes: int, trials: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval of a proportion (95 % for z = 1.96)."""
    if trials == 0:
        return [0.0, 1.0]
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    return [round(centre - half, 4), round(centre + half, 4)]


def with_earlier(result: dict, earlier: dict) -> dict:
    """A re-run of the survivors, counted with the mutants the earlier run killed."""
    killed = earlier["killed"] + result["killed"]
    total = killed + len(result["survivors"])
    return {**result, "killed": killed, "total": total, "score": killed / total if total else 1.0,
            "rerun": len(earlier["survivors"])}


def summarise(module: str, tests: tuple[str, ...], records: list) -> dict:
    """Killed (a failing test or a timeout), survived, and what never ran."""
    killed, survivors, errors = 0, [], 0
    for item, result in records:
        if result is None or result.get("worker_outcome") not in ("normal", "abnormal"):
            errors += 1
        elif result["test_outcome"] == "survived":
            survivors.append(describe(item))
        else:
            killed += 1
    total = killed + len(survivors)
    return {"module": module, "tests": list(tests), "killed": killed, "total": total, "errors": errors,
            "score": killed / total if total else 1.0, "survivors": sorted(survivors)}


def describe(item: dict) -> str:
    """``line:column operator #occurrence`` of a mutant."""
    (mutation,) = item["mutations"]
    return label(*mutation["start_pos"], mutation["operator_name"], mutation["occurrence"])


def label(line: int, column: int, operator: str, occurrence: int) -> str:
    return f"{line}:{column} {operator} #{occurrence}"


def headline(result: dict) -> str:
    """The score line of one module."""
    rerun = f", re-ran {result['rerun']} survivors" if "rerun" in result else ""
    line = (f"{result['module']}: {result['killed']}/{result['total']} killed = {100 * result['score']:.1f} %"
            f" ({len(result['survivors'])} survived, {result['errors']} not run{rerun})")
    if "sample" not in result:
        return line
    sample = result["sample"]
    low, high = (100 * bound for bound in sample["wilson95"])
    return (f"{line}; a sample estimate: {sample['size']} of {sample['of']} mutants, seed {sample['seed']},"
            f" 95 % Wilson interval {low:.1f}-{high:.1f} %")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), help="paths from the checkout root")
    parser.add_argument("--timeout", type=float, help="seconds per mutant's test run (default: 5 × the baseline's)")
    parser.add_argument("--floor", type=float, help="exit 1 when a module's score is below this (0-1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--survivors-of", type=Path, help="an earlier --json: re-run only its survivors")
    parser.add_argument("--sample", type=int, help="run a seeded random choice of this many mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="the seed of --sample (default 0)")
    parser.add_argument("--every-test", action="store_true",
                        help="run all of a module's tests on each mutant, not only those that call the mutated code")
    args = parser.parse_args(argv)
    options = Options(args.timeout, args.sample, args.seed, args.every_test)
    earlier = {}
    if args.survivors_of:
        earlier = {r["module"]: r for r in json.loads(args.survivors_of.read_text(encoding="utf-8"))}
    results = []
    for module in args.modules:
        result = run_module(module, options, earlier.get(module))
        results.append(result)
        print(headline(result), flush=True)
        for survivor in result["survivors"]:
            print(f"    survived {survivor}", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    below = [r["module"] for r in results if args.floor is not None and r["score"] < args.floor]
    if below:
        print(f"mutation score below {args.floor:.0%}: {', '.join(below)}", file=sys.stderr)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
