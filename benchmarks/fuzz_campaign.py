"""Hostile-input campaign: the fuzz tests' strategies and checks at a larger
budget, with counts per category.

Categories, each case classified by the tests' own helpers (tests/fuzz_*.py):

* grammar-generated programs and mutated examples through ``segc check`` and
  ``segc report`` (in-process); corrupt JSON graphs through both; corrupt
  ONNX models through ``segc import`` (then ``check`` on what it wrote);
* kills during writes: ``segc export --to hls`` of two networks into one
  folder, killed at random moments; the folder must be one whole version;
* the test modules on hostile names through every backend, special-file
  outputs and inputs, malformed ONNX and command-line values, run by pytest
  with ``SEGC_FUZZ_EXAMPLES`` (their property tests scale with it).

Code execution: the hostile names try to create files named ``PWNED``; any
that appears in the campaign's folders is counted.  Clobbered: an input whose
bytes changed, or a killed write that left a mix of versions.  Exit status 1
when any count that must be zero is not::

    .venv/bin/python benchmarks/fuzz_campaign.py [--examples 2000] [--kills 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

import hypothesis  # noqa: E402
from conftest import EXAMPLES, default_network  # noqa: E402
from fuzz_checks import ACCEPTED, REJECTED, Hang, check_and_report, copy_example_imports  # noqa: E402
from fuzz_grammar import GENERATED  # noqa: E402
from fuzz_json import mutated_json, source_graphs  # noqa: E402
from fuzz_mutations import mutated  # noqa: E402
from fuzz_onnx import corrupted_model, import_verdict, source_models  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MUST_BE_ZERO = ("internal errors", "hangs", "clobbered", "code executions", "other problems")
COLUMNS = ("cases", ACCEPTED, REJECTED, *MUST_BE_ZERO)
PYTEST_GROUPS = {
    "hostile names, every backend (pytest)": ["test_names_hostile.py", "test_names_property.py",
                                              "test_names_import.py"],
    "special files, inputs, ONNX, CLI values (pytest)": ["test_outputs.py", "test_inputs.py", "test_malformed.py",
                                                         "test_cli_values.py"],
}
HLS_SOURCES = (EXAMPLES / "tiny.seg", EXAMPLES / "tiny_seg.seg")


def tally(verdict: str, counts: Counter) -> None:
    """Count a verdict under its column."""
    counts["cases"] += 1
    if verdict in (ACCEPTED, REJECTED, "hangs", "clobbered"):
        counts[verdict] += 1
    elif verdict == "internal error":
        counts["internal errors"] += 1
    else:
        counts["other problems"] += 1
        counts[f"  {verdict}"] += 1


class Case:
    """A fuzzed category: ``make`` draws an input file, ``check`` gives segc's verdict on it."""

    def __init__(self, make: Callable[[st.DataObject], Path], check: Callable[[Path], str]):
        self.make, self.check = make, check


def explore(examples: int, seed: int, case: Case, findings: Path) -> Counter:
    """``examples`` random cases (no shrinking); the input's bytes must not
    change.  The input of a case that fails is copied into ``findings``."""
    counts: Counter = Counter()

    @hypothesis.seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        try:
            path = case.make(data)
            before = path.read_bytes()
            verdict = case.check(path)
            if path.read_bytes() != before:
                verdict = "clobbered"
        except Hang:
            verdict = "hangs"
        except Exception as err:  # a failure of the harness: counted, shown
            verdict = f"harness error {type(err).__name__}: {err}"[:200]
        if verdict not in (ACCEPTED, REJECTED):
            findings.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, findings / f"{counts['cases']:05}{path.suffix}")
        tally(verdict, counts)

    run()
    return counts


def generated_case(work: Path) -> Case:
    copy_example_imports(work)

    def make(data: st.DataObject) -> Path:
        path = work / "generated.seg"
        path.write_text(data.draw(GENERATED), encoding="utf-8")
        return path

    return Case(make, check_and_report)


def mutant_case(work: Path) -> Case:
    copy_example_imports(work)
    examples = sorted(EXAMPLES.glob("*.seg"))
    networks = {p.name: default_network(p) for p in examples}

    def make(data: st.DataObject) -> Path:
        original = data.draw(st.sampled_from(examples))
        path = work / original.name
        path.write_text(data.draw(mutated(original.read_text(encoding="utf-8"))), encoding="utf-8")
        return path

    return Case(make, lambda path: check_and_report(path, networks[path.name]))


def json_case(work: Path) -> Case:
    graphs = source_graphs(work)

    def make(data: st.DataObject) -> Path:
        path = work / "mutated.json"
        path.write_bytes(data.draw(mutated_json(graphs[data.draw(st.sampled_from(sorted(graphs)))])))
        return path

    return Case(make, check_and_report)


def onnx_case(work: Path) -> Case:
    models = {key: path.read_bytes() for key, path in source_models(work).items()}

    def make(data: st.DataObject) -> Path:
        path = work / "model.onnx"
        path.write_bytes(data.draw(corrupted_model(models[data.draw(st.sampled_from(sorted(models)))])))
        return path

    return Case(make, lambda path: import_verdict(path, work))


FUZZED = {"grammar-generated .seg: check, report": generated_case,
          "mutated examples: check, report": mutant_case,
          "JSON graph mutation: check, report": json_case,
          "corrupt ONNX: import, check": onnx_case}


# ------------------------------------------------------------------ kills during writes
def segc_command(*argv: str | Path) -> list[str]:
    return [sys.executable, "-m", "segc.cli", *map(str, argv)]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def kill_writes(kills: int, seed: int, work: Path) -> Counter:
    """``segc export --to hls`` of two networks in turn into one folder,
    killed at random moments: the folder must hold one version whole
    (``accepted``: the run finished; ``rejected cleanly``: killed, a whole
    version left; ``clobbered``: a mix)."""
    versions, seconds = [], []
    for i, source in enumerate(HLS_SOURCES):
        start = time.monotonic()
        subprocess.run(segc_command("export", source, "--to", "hls", "-o", work / f"reference{i}"), check=True,
                       capture_output=True)
        seconds.append(time.monotonic() - start)
        versions.append(tree(work / f"reference{i}"))
    out, rng, counts = work / "hls", random.Random(seed), Counter()
    subprocess.run(segc_command("export", HLS_SOURCES[0], "--to", "hls", "-o", out), check=True, capture_output=True)
    for i in range(kills):
        child = subprocess.Popen(segc_command("export", HLS_SOURCES[(i + 1) % 2], "--to", "hls", "-o", out),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.1) * max(seconds))
        finished = child.poll() is not None
        child.kill()
        _, err = child.communicate()
        if finished and child.returncode != 0:
            tally("internal error" if b"internal error" in err else f"exit status {child.returncode}", counts)
            continue
        tally((ACCEPTED if finished else REJECTED) if tree(out) in versions else "clobbered", counts)
    subprocess.run(segc_command("export", HLS_SOURCES[0], "--to", "hls", "-o", out), check=True, capture_output=True)
    leftovers = [n for n in os.listdir(work) if n.startswith(".segc-")]
    if tree(out) != versions[0] or leftovers:
        tally("a re-run did not restore the folder", counts)
    return counts


# ------------------------------------------------------------------ the test modules
def run_pytest(files: list[str], examples: int, work: Path) -> Counter:
    """The modules under pytest with SEGC_FUZZ_EXAMPLES; counts from its JUnit report."""
    report = work / "junit.xml"
    env = {**os.environ, "SEGC_FUZZ_EXAMPLES": str(examples)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", work / "tmp",
                    f"--junitxml={report}", *(str(TESTS / f) for f in files)], cwd=work, env=env,
                   capture_output=True, check=False)
    counts: Counter = Counter()
    if not report.exists():
        tally("pytest wrote no report", counts)
        return counts
    for case in ElementTree.parse(report).iter("testcase"):
        outcome = {child.tag for child in case}
        if "skipped" in outcome:
            continue
        bad = outcome & {"failure", "error"}
        tally(f"test failed: {case.get('name')}" if bad else ACCEPTED, counts)
    return counts


def markers(folder: Path) -> int:
    """Files the hostile names' payloads would create."""
    return sum(1 for p in folder.rglob("*") if p.name.startswith("PWNED"))


def show(results: dict[str, Counter], seconds: dict[str, float]) -> None:
    print(f"| category | {' | '.join(COLUMNS)} | seconds |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name, counts in results.items():
        print(f"| {name} | " + " | ".join(f"{counts[c]:,}" for c in COLUMNS) + f" | {seconds[name]:.0f} |")
    for name, counts in results.items():
        for key in sorted(k for k in counts if k.startswith("  ")):
            print(f"{name}: {key.strip()}: {counts[key]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per fuzzed category (default: 2000)")
    parser.add_argument("--property-examples", type=int, default=200,
                        help="SEGC_FUZZ_EXAMPLES for the test modules (default: 200)")
    parser.add_argument("--kills", type=int, default=40, help="killed HLS exports (default: 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", metavar="TEXT", default="", help="run the categories whose name contains TEXT")
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"),
                        help="where the inputs of failing cases are copied (default: ./fuzz-findings)")
    args = parser.parse_args()
    findings = args.findings.resolve()  # before the working folder changes
    runs: dict[str, Callable[[Path], Counter]] = {
        **{name: lambda folder, make=make, i=i: explore(args.examples, args.seed, make(folder),
                                                        findings / f"category{i}")
           for i, (name, make) in enumerate(FUZZED.items())},
        "kills during HLS export": lambda folder: kill_writes(args.kills, args.seed, folder),
        **{name: lambda folder, files=files: run_pytest(files, args.property_examples, folder)
           for name, files in PYTEST_GROUPS.items()},
    }
    runs = {name: run for name, run in runs.items() if args.only in name}
    results: dict[str, Counter] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="segc-campaign-") as scratch:
        for index, (name, run) in enumerate(runs.items()):
            folder = Path(scratch) / f"category{index}"
            folder.mkdir()
            os.chdir(folder)  # a payload that ran a relative 'touch PWNED' would leave its marker here
            start = time.monotonic()
            results[name] = run(folder)
            seconds[name] = time.monotonic() - start
            results[name]["code executions"] += markers(folder)
            print(f"{name}: {dict(results[name])}", file=sys.stderr, flush=True)
        os.chdir(ROOT)
    show(results, seconds)
    failed = [name for name, counts in results.items() if any(counts[c] for c in MUST_BE_ZERO)]
    print("verdict:", f"FAIL ({', '.join(failed)})" if failed else "PASS (every count that must be zero is zero)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
