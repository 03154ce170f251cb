"""``segc prune``: the pruned network and weights it writes, determinism,
and its user mistakes (exit status 1, one clear message, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

import segc  # noqa: E402
from segc.cli import main  # noqa: E402


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def test_prune_writes_a_network_and_weights_that_fit(work: Path, capsys) -> None:
    status, out, err = run(["prune", "tiny.seg", "--rates", "0.5", "-o", "small.seg"], capsys)
    assert status == 0
    assert "pruned tiny: 4 of 6 channel groups" in out and err == "wrote small.seg, small.safetensors (2 files)\n"
    graph = segc.load("small.seg")
    assert [graph.node(n).shape.c for n in ("stem.conv", "down.conv", "body.0.conv", "head.linear")] == [4, 8, 8, 10]
    module = segc.to_torch(graph, "small.safetensors")
    assert module(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert (work / "small.seg").read_text("utf-8").startswith(
        "# tiny pruned by segc from tiny.seg with --rates 0.5; weights in small.safetensors\n")


def test_prune_is_deterministic(work: Path, capsys) -> None:
    outputs = []
    for _ in range(2):
        assert run(["prune", "tiny.seg", "--rates", "0.3", "--snap", "-o", "p.seg"], capsys)[0] == 0
        outputs.append(((work / "p.seg").read_bytes(), (work / "p.safetensors").read_bytes()))
    assert outputs[0] == outputs[1]


def test_weights_file_gives_the_same_as_its_seed(work: Path, capsys) -> None:
    graph = segc.load("tiny.seg")
    save_file(segc.to_torch(graph, None, 3).state_dict(), str(work / "w.safetensors"))
    assert run(["prune", "tiny.seg", "--rates", "0.4", "--weights", "w.safetensors", "-o", "a.seg"], capsys)[0] == 0
    assert run(["prune", "tiny.seg", "--rates", "0.4", "--seed", "3", "-o", "b.seg"], capsys)[0] == 0
    assert (work / "a.safetensors").read_bytes() == (work / "b.safetensors").read_bytes()
    assert run(["prune", "tiny.seg", "--rates", "0.4", "--seed", "4", "-o", "c.seg"], capsys)[0] == 0
    assert (work / "c.safetensors").read_bytes() != (work / "b.safetensors").read_bytes()


def test_rates_file(work: Path, capsys) -> None:
    (work / "rates.txt").write_text("# coarse\n*: 0.5\nbody.*: 0.25\nkeep stem.bn\n", encoding="utf-8")
    assert run(["prune", "tiny.seg", "--rates", "rates.txt", "-o", "r.seg"], capsys)[0] == 0
    graph = segc.load("r.seg")
    assert [graph.node(n).shape.c for n in ("stem.conv", "down.conv", "body.0.conv", "fused.0.conv")] == [8, 12, 12, 8]
    assert [k.pattern for k in graph.directives.prune.keep] == ["stem.bn"] and not graph.directives.prune.rules


def fails(argv: list[str], message: str, work: Path, capsys) -> None:
    before = sorted(p.name for p in work.iterdir())
    status, out, err = run(argv, capsys)
    assert (status, out) == (1, "")
    assert err == message + "\n"
    assert sorted(p.name for p in work.iterdir()) == before  # nothing written


@pytest.mark.parametrize(("rates", "message"), [
    ("1.5", "error: --rates: a pruning rate must be at least 0 and below 1, got 1.5"),
    ("0.95", "error: pruning 0.95 of the 8 channels of group 'stem.conv' (stem.conv) would leave none; "
             "a rate of at most 0.9375 keeps one"),
    ("nothing.txt", "error: cannot read 'nothing.txt': No such file or directory"),
])
def test_bad_rates(work: Path, capsys, rates: str, message: str) -> None:
    fails(["prune", "tiny.seg", "--rates", rates, "-o", "out.seg"], message, work, capsys)


def test_rates_file_naming_unknown_layers(work: Path, capsys) -> None:
    (work / "rates.txt").write_text("stem.conv: 0.5\nstme.conv: 0.5\nhead.linear: 0.5\nkeep nothing\n", "utf-8")
    fails(["prune", "tiny.seg", "--rates", "rates.txt", "-o", "out.seg"], "\n".join([
        "rates.txt:2:1: error: no layer named 'stme.conv' in network 'tiny'; did you mean 'stem.conv'?",
        "    stme.conv: 0.5", "    ^^^^^^^^^",
        "rates.txt:3:1: error: 'head.linear' matches only layers that cannot be pruned "
        "(head.linear: network output 'logits')",
        "    head.linear: 0.5", "    ^^^^^^^^^^^",
        "rates.txt:4:6: error: 'nothing' matches no layer of network 'tiny'",
        "    keep nothing", "         ^^^^^^^",
    ]), work, capsys)


def test_other_mistakes(work: Path, capsys) -> None:
    fails(["prune", "tiny.seg", "-o", "out.seg"], "error: no pruning rates: give --rates, or write a "
          "'prune tiny { ... }' section in the network's file", work, capsys)
    fails(["prune", "tiny.seg", "--rates", "0.5", "-o", "out.txt"],
          "error: the output must be a .seg file, got 'out.txt'", work, capsys)
    fails(["prune", "tiny.seg", "--rates", "0.5", "-o", "tiny.seg"],
          "error: refusing to overwrite the input file 'tiny.seg'; choose another output", work, capsys)
    save_file({"conv.weight": torch.zeros(1)}, str(work / "w.safetensors"))
    status, _, err = run(["prune", "tiny.seg", "--rates", "0.5", "--weights", "w.safetensors", "-o", "o.seg"], capsys)
    assert status == 1 and "w.safetensors: error: layer 'stem.conv': 'stem.conv.weight' is missing" in err
    assert not (work / "o.seg").exists() and not (work / "o.safetensors").exists()


def test_snap_needs_a_target(work: Path, capsys) -> None:
    (work / "bare.seg").write_text(
        "network bare {\n    input image: [3, 8, 8]\n    a = image -> conv(8, k=1)\n"
        "    output y = a -> conv(2, k=1)\n}\n", "utf-8")
    fails(["prune", "bare.seg", "--rates", "0.5", "--snap", "-o", "out.seg"],
          "error: snapping to P_of needs a target; network 'bare' has none", work, capsys)
