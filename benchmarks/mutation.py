"""Mutation testing of the compiler's core with cosmic-ray: each module is
mutated in a scratch copy of the checkout (never in place), against only the
test files that cover it, one mutant at a time; prints the score per module
(killed / all mutants that ran; a timeout counts as killed) and the survivors.

    python benchmarks/mutation.py                          # every module of passes/, and ir/ops.py
    python benchmarks/mutation.py --modules passes/timing.py --floor 0.9

``--timeout``: seconds a mutant's tests may run before it counts as killed
(a mutant that loops forever); default 5 times the unmutated run, at least
20 s.
``--floor``: exit status 1 when a module's score is below it (CI).
``--json FILE``: the scores and survivors, for RESULTS.md.
``--survivors-of FILE``: run only the mutants that survived in that earlier
``--json`` (the module unchanged since, tests added); the mutants it killed
stay killed, so the score counts them with those killed now.

Why a copy: the package maps folders (``segc.passes`` is ``passes/``), so the
copy gets a ``segc/`` whose subpackages link to the copied folders, and the
tests import it through PYTHONPATH ahead of the editable install.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("dsl", "ir", "passes", "backends", "train", "segc", "tests", "examples", "docs")
SUBPACKAGES = ("dsl", "ir", "passes", "backends", "train")

HARDWARE_TESTS = ("tests/test_hwmodel.py", "tests/test_engines.py")
PRUNING_TESTS = ("tests/test_prune.py", "tests/test_prune_torch.py", "tests/test_prune_shuffle.py",
                 "tests/test_prune_pointwise.py")
OPS_TESTS = ("tests/test_ops_table.py", "tests/test_ops_conv.py", "tests/test_ops_pool_upsample.py",
             "tests/test_ops_add_concat_linear.py", "tests/test_ops_channels.py", "tests/test_ops_attributes.py",
             "tests/test_ops_shape_edges.py")
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
# The test files that cover each module (any other: the test files named after it).
TESTS = {
    "passes/hwmodel.py": (*HARDWARE_TESTS, "tests/test_hwmodel_geometry.py", "tests/test_hwmodel_tiles.py"),
    "passes/tile.py": ("tests/test_tile.py", *HARDWARE_TESTS),
    "passes/timing.py": HARDWARE_TESTS,
    "passes/engines.py": (*HARDWARE_TESTS, "tests/test_engines_streamed.py",
                          "tests/test_deconv_cost.py::test_one_deconv_by_hand"),
    "passes/cost.py": (*HARDWARE_TESTS, "tests/test_cost_rules.py"),
    "passes/modes.py": HARDWARE_TESTS,
    "passes/base.py": ("tests/test_pipeline_verify.py", *HARDWARE_TESTS),
    "passes/registry.py": ("tests/test_pipeline_verify.py", "tests/test_cli.py"),
    "passes/fastmodel.py": ("tests/test_engines.py", "tests/test_dse.py"),
    "passes/dconv_cost.py": DCONV_COST_TESTS,
    "passes/deform.py": DEFORM_PASS_TESTS,
    "passes/channels.py": PRUNING_TESTS,
    "passes/channel_flow.py": PRUNING_TESTS,
    "passes/prune.py": PRUNING_TESTS,
    "passes/prune_weights.py": PRUNING_TESTS,
    "passes/prune_rates.py": ("tests/test_prune.py", "tests/test_prune_cli.py"),
    "passes/pruned_cost.py": (*SEARCH_TESTS, "tests/test_engines.py"),
    "passes/proxy.py": SEARCH_TESTS,
    "passes/search_space.py": SEARCH_TESTS,
    "passes/search_pymoo.py": SEARCH_TESTS,
    "passes/calibrate.py": ("tests/test_calibrate_physical.py", "tests/test_calibration_cv.py"),
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


# Stop at the first failure; no cache, no workers, no hypothesis plugin (its
# import is a third of a run; @given tests still run without it).
PYTEST_OPTIONS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest")


def config(module: str, tests: tuple[str, ...], timeout: float) -> str:
    command = f"{sys.executable} -m pytest {' '.join(PYTEST_OPTIONS)} {' '.join(tests)}"
    return "\n".join([
        "[cosmic-ray]", f"module-path = {json.dumps(module)}", f"timeout = {timeout}", "excluded-modules = []",
        f"test-command = {json.dumps(command)}", "", "[cosmic-ray.distributor]", 'name = "local"', "",
    ])


def cosmic_ray(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mutation: cosmic-ray {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def keep_only(database: Path, survivors: list[str]) -> None:
    """Take every mutant but ``survivors`` out of a session ``cosmic-ray init`` made."""
    connection = sqlite3.connect(database)
    with connection:
        specs = connection.execute(
            "SELECT job_id, start_pos_row, start_pos_col, operator_name, occurrence FROM mutation_specs").fetchall()
        dropped = [(job,) for job, *where in specs if label(*where) not in survivors]
        if len(specs) - len(dropped) != len(survivors):
            raise SystemExit("mutation: the module's mutants are not those of the earlier run: run it whole")
        connection.executemany("DELETE FROM mutation_specs WHERE job_id = ?", dropped)
        connection.executemany("DELETE FROM work_items WHERE job_id = ?", dropped)
    connection.close()


def run_module(module: str, timeout: float | None, earlier: dict | None = None) -> dict:
    """Score and survivors of one module (only ``earlier``'s survivors, when given)."""
    tests = tests_for(module)
    with tempfile.TemporaryDirectory(prefix="segc-mutation-") as folder:
        copy = scratch_copy(Path(folder))
        (copy / "cr.toml").write_text(config(module, tests, timeout or 600.0), encoding="utf-8")
        cosmic_ray(["init", "cr.toml", "cr.sqlite"], copy)
        if earlier:
            keep_only(copy / "cr.sqlite", earlier["survivors"])
        start = time.monotonic()
        cosmic_ray(["baseline", "cr.toml"], copy)
        if timeout is None:
            timeout = max(20.0, 5 * (time.monotonic() - start))
            (copy / "cr.toml").write_text(config(module, tests, round(timeout)), encoding="utf-8")
        cosmic_ray(["exec", "cr.toml", "cr.sqlite"], copy)
        dump = cosmic_ray(["dump", "cr.sqlite"], copy)
    result = summarise(module, tests, [json.loads(line) for line in dump.splitlines() if line.strip()])
    return with_earlier(result, earlier) if earlier else result


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), help="paths from the checkout root")
    parser.add_argument("--timeout", type=float, help="seconds per mutant's test run (default: 5 × the baseline's)")
    parser.add_argument("--floor", type=float, help="exit 1 when a module's score is below this (0-1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--survivors-of", type=Path, help="an earlier --json: re-run only its survivors")
    args = parser.parse_args(argv)
    earlier = {}
    if args.survivors_of:
        earlier = {r["module"]: r for r in json.loads(args.survivors_of.read_text(encoding="utf-8"))}
    results = []
    for module in args.modules:
        result = run_module(module, args.timeout, earlier.get(module))
        results.append(result)
        rerun = f", re-ran {result['rerun']} survivors" if "rerun" in result else ""
        print(f"{module}: {result['killed']}/{result['total']} killed = {100 * result['score']:.1f} %"
              f" ({len(result['survivors'])} survived, {result['errors']} not run{rerun})", flush=True)
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
