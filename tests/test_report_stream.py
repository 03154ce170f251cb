"""``segc report``'s terminal table, streamed from the annotated graph, is
the table of the JSON report's rows laid out as before (a reference layout
written out here), in chunks of any size."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

import segc
from segc.backends.report import tables
from segc.cli import main, table
from segc.hardware import report

NETWORKS = ["deeplabv3plus_r18.seg", "codenet_shufflenet.seg", "mobilenetv3_small.seg"]


def _reference(title: str, headers: list[str], body: list[list[str]], footer: list[str]) -> str:
    """The plain layout: columns as wide as their widest cell, two spaces
    apart, right-aligned where every cell that is not empty is a number."""
    rows = [headers, *body, footer]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]

    def number(cell: str) -> bool:
        digits = cell.lstrip("+-").replace(",", "").replace(".", "").replace("%", "")
        return digits.isdigit()

    right = [any(r[i] for r in body) and all(number(r[i]) for r in body if r[i]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(headers), rule, *map(line, body), rule, line(footer)]) + "\n"


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_streamed_table_is_the_reports_table(capsys, monkeypatch, name: str, chunk: int) -> None:
    monkeypatch.setattr(table, "_CHUNK", chunk)
    path = str(EXAMPLES / name)
    data = report(segc.load(path))
    headers, body, footer = tables.table_rows(data)
    title, *lines = tables.summary_lines(data)
    assert main(["report", path]) == 0
    assert capsys.readouterr().out == _reference(title, headers, body, footer) + "\n".join(lines) + "\n"


def test_a_cell_holding_the_row_separator_stays_whole(capsys) -> None:
    table.print_table("t", ["a", "b"], iter([["x\x1fy", "1"], ["z", "22"]]), ["", "23"])
    assert capsys.readouterr().out == _reference("t", ["a", "b"], [["x\x1fy", "1"], ["z", "22"]], ["", "23"])


@pytest.mark.parametrize(("cells", "numbers"), [
    (["1", "22,000", "3.5", "-4", "+5%", "12.50%"], True),
    (["1", "3×3"], False), (["1", "a"], False), (["%"], False), (["-"], False), (["1-2"], False),
    (["5+"], False), ([",-5"], False), (["+,5"], True), (["1\n2"], False), (["١٢"], True), (["1", "x١"], False),
    (["1", ""], False), ([], True),
])
def test_a_column_of_numbers_by_hand(cells: list[str], numbers: bool) -> None:
    """One match over the joined column, against the cells one by one."""
    assert table._all_numbers(cells) is numbers
    assert all(map(table._number, cells)) is numbers


def test_a_column_is_formatted_at_once_as_cell_by_cell():
    from segc.backends.report.tables import _column_cells, _text

    assert list(_column_cells(_text, (1234, 5))) == ["1,234", "5"]
    assert list(_column_cells(_text, ("conv", "add"))) == ["conv", "add"]
    assert list(_column_cells(_text, ([64, 56, 56], [1]))) == ["64×56×56", "1"]
    assert list(_column_cells(_text, (1234, None))) == ["1,234", ""]  # mixed: cell by cell
    assert list(_column_cells(_text, (1234.5, 7))) == ["1234.5", "7"]  # a float is not given commas
    assert list(_column_cells(_text, (True, 2))) == [_text(True), "2"]
