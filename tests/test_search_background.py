"""``segc search`` leaves its figures to a detached child process, and its
NSGA-II loads without scipy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import segc
from segc.cli import main
from segc.cli.background import run_detached
from segc.outputs import write_atomic

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "examples" / "tiny_seg.seg")
FIGURES = ("search.html", "pareto.png")


def _wait_for(paths: list[Path], seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"not drawn in {seconds} s: {[p for p in paths if not p.exists()]}"
        time.sleep(0.05)


def test_the_figures_come_from_a_child_after_the_result(capsys, monkeypatch, tmp_path: Path) -> None:
    argv = ["search", TINY, "--pop", "4", "--gen", "2", "--seed", "3"]
    assert main([*argv, "-o", str(tmp_path / "inline")]) == 0  # the suite's setting: drawn before returning
    capsys.readouterr()
    monkeypatch.delenv("SEGC_FIGURES")
    folder = tmp_path / "detached"
    assert main([*argv, "-o", str(folder)]) == 0
    err = capsys.readouterr().err
    drawn = [folder / name for name in FIGURES]
    assert err == f"wrote {folder / 'pareto.json'}\ndrawing {drawn[0]} and {drawn[1]} in the background\n"
    _wait_for(drawn)
    for name in FIGURES:  # the same bytes as drawn in the command's process
        assert (folder / name).read_bytes() == (tmp_path / "inline" / name).read_bytes()
    assert sorted(os.listdir(folder)) == sorted([".segc-manifest.json", "pareto.json", *FIGURES])


def test_a_child_leaves_a_folder_a_later_search_wrote(tmp_path: Path) -> None:
    """The figures are drawn for the pareto.json the command wrote, else not at all."""
    import json

    from segc.cli.search import draw_figures
    from segc.pruning_search import SearchOptions, search

    graph = segc.load(TINY)
    document = search(graph, segc.api.weight_arrays(graph, None, 0), SearchOptions(pop=4, gen=1))
    (tmp_path / "pareto.json").write_text("a later search's result\n")
    draw_figures(str(tmp_path), json.dumps(document), graph, document, None, ())
    assert sorted(os.listdir(tmp_path)) == ["pareto.json"]
    (tmp_path / "pareto.json").write_text(json.dumps(document))
    draw_figures(str(tmp_path), json.dumps(document), graph, document, None, ())
    assert sorted(os.listdir(tmp_path)) == sorted(["pareto.json", *FIGURES])


def test_a_detached_call_appears_whole(tmp_path: Path) -> None:
    """The child writes through write_atomic: the file, once there, is complete."""
    target = tmp_path / "big.bin"
    payload = bytes(range(256)) * 40_000  # 10 MB
    child = run_detached(write_atomic, str(target), payload)
    sizes = set()
    while child.poll() is None:
        if target.exists():
            sizes.add(target.stat().st_size)
    assert child.wait() == 0 and sizes <= {len(payload)} and target.read_bytes() == payload
    assert os.listdir(tmp_path) == ["big.bin"]


def test_a_failing_child_says_why_on_standard_error(tmp_path: Path) -> None:
    code = ("import sys; from segc.cli.background import run_detached; from segc.outputs import write_atomic; "
            f"sys.exit(run_detached(write_atomic, {str(tmp_path / 'missing' / 'x')!r}, b'x').wait())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stderr.startswith("segc (in the background): ")
    assert "Traceback" not in done.stderr


def test_the_search_imports_no_scipy() -> None:
    code = ("import sys, segc; from segc.passes.search import run_search; "
            "from segc.passes.search_space import search_space; from segc.passes.proxy import ImportanceProxy; "
            f"g = segc.load({TINY!r}); s = search_space(g); "
            "run_search(s, lambda x: (x.sum(axis=1) * 1.0, -(x.sum(axis=1) ** 2) * 1.0), pop=6, gen=3); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_the_stand_in_distance_functions_call_scipys() -> None:
    from pymoo.operators.survival.rank_and_crowding import metrics

    from segc.passes.search_pymoo import nsga2

    nsga2()
    points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert metrics.squareform(metrics.pdist(points)).tolist() == [[0, 5, 10], [5, 0, 5], [10, 5, 0]]


def test_equal_genomes_marks_what_pymoo_marks() -> None:
    """Against pymoo's own test (scipy's distances ≤ 1e-16)."""
    from pymoo.core.duplicate import DefaultDuplicateElimination
    from pymoo.core.population import Population

    from segc.passes.search_pymoo import EqualGenomes

    rng = np.random.default_rng(0)
    genomes = rng.integers(0, 3, size=(60, 4))
    others = rng.integers(0, 3, size=(20, 4))
    pop, other = Population.new(X=genomes), Population.new(X=others)
    kept = EqualGenomes().do(pop, other, return_indices=True)[1]
    assert kept == DefaultDuplicateElimination().do(pop, other, return_indices=True)[1]
    assert len(EqualGenomes().do(pop, return_indices=True)[1]) == len({tuple(g) for g in genomes})
