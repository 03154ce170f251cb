"""The ``.seg`` language across files and sections: imports (relative,
nested, diamond), comments, choosing among several networks, ``on TARGET``,
the ``prune`` section and warnings for unused statements."""

from __future__ import annotations

from pathlib import Path

import pytest
from seg_text import network, ops

import segc
from segc import SegError


# ---------------------------------------------------------------- imports
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_import_is_relative_to_the_importing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = 'import "deep/act.seg"\nblock cr(x, c) {\n    return x -> conv(c, k=1) -> act()\n}\n'
    write(tmp_path / "lib" / "blocks.seg", blocks)
    write(tmp_path / "lib" / "deep" / "act.seg", "block act(x) {\n    return x -> relu\n}\n")
    main = write(tmp_path / "main.seg", 'import "lib/blocks.seg"\n' + network("output y = x -> cr(4)"))
    monkeypatch.chdir(tmp_path / "lib" / "deep")
    graph = segc.load(str(main))
    assert ops(graph) == ["input", "conv", "relu", "output"]


def test_import_with_parent_folder(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "act.seg", "block act(x) {\n    return x -> sigmoid\n}\n")
    lib = 'import "../shared/act.seg"\nblock twice(x) {\n    return x -> act() -> act()\n}\n'
    write(tmp_path / "nets" / "lib.seg", lib)
    text = 'import "lib.seg"\n' + network("output y = x -> twice()")
    graph = segc.loads(text, path=str(tmp_path / "nets" / "main.seg"))
    assert ops(graph) == ["input", "sigmoid", "sigmoid", "output"]


def test_diamond_import_loads_the_shared_file_once(tmp_path: Path) -> None:
    write(tmp_path / "common" / "base.seg", "block base(x) {\n    return x -> relu\n}\n")
    write(tmp_path / "left.seg", 'import "common/base.seg"\nblock left(x) {\n    return x -> base()\n}\n')
    write(tmp_path / "right.seg", 'import "./common/base.seg"\nblock right(x) {\n    return x -> base()\n}\n')
    main = write(tmp_path / "main.seg", 'import "left.seg"\nimport "right.seg"\n'
                 + network("output y = add(x -> left(), x -> right())"))
    graph = segc.load(str(main))
    assert ops(graph).count("relu") == 2


def test_missing_import_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path / "main.seg", 'import "nowhere.seg"\n' + network("output y = x"))
    with pytest.raises(SegError, match="cannot read"):
        segc.load(str(main))


def test_import_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.seg", 'import "b.seg"\n')
    write(tmp_path / "b.seg", 'import "a.seg"\n')
    main = write(tmp_path / "main.seg", 'import "a.seg"\n' + network("output y = x"))
    with pytest.raises(SegError, match="import cycle"):
        segc.load(str(main))


def test_block_defined_twice_across_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.seg", "block f(x) {\n    return x\n}\n")
    main = write(tmp_path / "main.seg", 'import "a.seg"\nblock f(x) {\n    return x\n}\n' + network("output y = x"))
    with pytest.raises(SegError, match="defined twice"):
        segc.load(str(main))


# ---------------------------------------------------------------- comments
def test_comments_are_ignored_everywhere() -> None:
    text = """# leading comment
block f(x, # the input
        c) { # after the brace
    # before a statement
    y = x -> conv(c, # channels
                  k=1) # trailing
    return y # the result
} # end
network n { # header
    input x: [4, 8, 8] # the input
    output y = x -> f(# inside a call
        2)
}
# final comment"""
    graph = segc.loads(text)
    assert ops(graph) == ["input", "conv", "output"]
    assert graph.node("y").attrs["out"] == 2


def test_hash_inside_a_string_is_not_a_comment() -> None:
    text = 'target t {\n    device = "a # b"\n' + TARGET_FIELDS + "}\n" + network("output y = x").replace(
        "network n", "network n on t")
    assert segc.loads(text).target.device == "a # b"


# ---------------------------------------------------------------- several networks
TWO_NETWORKS = network("output y = x -> relu", name="first") + network("output y = x -> sigmoid", name="second")


def test_network_selection() -> None:
    assert ops(segc.loads(TWO_NETWORKS, network="first"))[1] == "relu"
    second = segc.loads(TWO_NETWORKS, network="second")
    assert second.name == "second"
    assert ops(second)[1] == "sigmoid"


def test_several_networks_need_a_choice() -> None:
    with pytest.raises(SegError, match="several networks"):
        segc.loads(TWO_NETWORKS)
    with pytest.raises(SegError, match="no network 'third'"):
        segc.loads(TWO_NETWORKS, network="third")


def test_imported_networks_are_not_candidates(tmp_path: Path) -> None:
    write(tmp_path / "other.seg", network("output y = x -> sigmoid", name="other"))
    main = write(tmp_path / "main.seg", 'import "other.seg"\n' + network("output y = x -> relu", name="mine"))
    assert segc.load(str(main)).name == "mine"
    assert segc.load(str(main), network="other").name == "other"


# ---------------------------------------------------------------- targets
TARGET_FIELDS = """    clock        = 200 MHz
    bandwidth    = 9.5 GB/s
    dsp          = 1518
    bram         = 2713
    bram_block   = 20 Kibit
    input_buffer = 128 KiB
    word         = 16 bit
    macs_per_dsp = 2
    unroll       = {pif: 16, pof: 32, pkx: 4}
"""


def test_on_target_attaches_the_target() -> None:
    text = "target acc {\n" + TARGET_FIELDS + "}\n" + network("output y = x").replace("network n", "network n on acc")
    target = segc.loads(text).target
    assert target.name == "acc"
    assert target.clock_hz == 200 * 10**6
    assert target.bandwidth == 9.5 * 10**9
    assert (target.dsp, target.bram, target.macs_per_dsp) == (1518, 2713, 2)
    assert target.bram_block_bits == 20 * 1024
    assert target.input_buffer_bits == 128 * 1024 * 8
    assert target.word_bits == 16
    assert (target.unroll.pif, target.unroll.pof, target.unroll.pkx, target.unroll.pky) == (16, 32, 4, 1)


def test_network_without_target_has_none() -> None:
    assert segc.loads(network("output y = x")).target is None


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(SegError, match="unknown target 'acc'"):
        segc.loads(network("output y = x").replace("network n", "network n on acc"))


# ---------------------------------------------------------------- prune
PRUNED = network(
    "a = x -> conv(8, k=1)\n    b = a -> conv(8, k=1) -> relu\n    c = b -> conv(8, k=1)\n    output y = c",
) + """
prune n {
    *: 0.1
    b.*: 0.5
    c: 0.25
    keep a, "b.conv"
}
"""


def test_prune_rules_and_keep_lists() -> None:
    prune = segc.loads(PRUNED).directives.prune
    assert [(r.pattern, r.rate) for r in prune.rules] == [("*", 0.1), ("b.*", 0.5), ("c", 0.25)]
    assert [k.pattern for k in prune.keep] == ["a", "b.conv"]


def test_rate_for_takes_the_last_matching_rule() -> None:
    prune = segc.loads(PRUNED).directives.prune
    assert prune.rate_for("a") == 0.1
    assert prune.rate_for("b.conv") == 0.5
    assert prune.rate_for("c") == 0.25
    assert prune.is_kept("a") and prune.is_kept("b.conv") and not prune.is_kept("c")


def test_network_without_prune_section_has_no_directives() -> None:
    assert segc.loads(network("output y = x")).directives.prune is None


@pytest.mark.parametrize(("rule", "message"), [("zzz*: 0.5", "matches no conv"), ("a: 1", "below 1")])
def test_bad_prune_rules(rule: str, message: str) -> None:
    text = network("a = x -> conv(8, k=1)\n    output y = a") + f"prune n {{\n    {rule}\n}}\n"
    with pytest.raises(SegError, match=message):
        segc.loads(text)


# ---------------------------------------------------------------- unused statements
def test_unused_statement_is_left_out_with_a_warning() -> None:
    warnings: list = []
    graph = segc.loads(network("dead = x -> conv(4, k=1)\n    output y = x -> relu"), warnings=warnings)
    assert ops(graph) == ["input", "relu", "output"]
    assert "dead" not in graph
    assert len(warnings) == 1
    assert warnings[0].severity == "warning"
    assert "'dead' is not used" in warnings[0].message
    assert warnings[0].span.line == 4  # blank line, 'network n {', the input, then 'dead = ...'


def test_partly_unused_statement_warns_with_a_count() -> None:
    warnings: list = []
    body = "pair = [x -> conv(4, k=1), x -> conv(5, k=1), x -> conv(6, k=1)]\n    output y = pair[1]"
    graph = segc.loads(network(body), warnings=warnings)
    assert [n.attrs["out"] for n in graph.nodes() if n.op == "conv"] == [5]
    assert [w.message for w in warnings] == [
        "2 of the layers made by 'pair' do not reach any output; they are left out"
    ]


def test_unused_input_warns() -> None:
    warnings: list = []
    segc.loads(network("input z: [1, 2, 2]\n    output y = x"), warnings=warnings)
    assert ["input 'z'" in w.message for w in warnings] == [True]


def test_used_statements_and_plain_values_do_not_warn() -> None:
    warnings: list = []
    segc.loads(network("k = 3\n    a = x -> conv(4, k=k)\n    output y = a"), warnings=warnings)
    assert warnings == []
