"""The measurements CSV of ``segc calibrate`` (segc/measurements.py): every
mistake a user can make in it is an error at file:line:column with a caret,
exit status 1 from the command line, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

from segc.cli import main
from segc.ir import Diagnostic, SegError, Unroll
from segc.measurements import Measurement, read_measurements

HEADER = "network,pif,pof,pkx,latency_s\n"
COLUMNS_HELP = ("the columns are network, pif, pof, pkx, latency_s (required) and pky, layer, part (optional)")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """tiny.seg and codenet_layer.seg (eight networks) with their target, in a fresh folder."""
    (tmp_path / "targets").mkdir()
    for name in ("tiny.seg", "codenet_layer.seg", "targets/ultra96.seg", "targets/codenet_ultra96.seg"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


def write(folder: Path, text: str, name: str = "m.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(SegError) as caught:
        read_measurements(str(path))
    return caught.value.render()


def located(path: Path, line: int, column: int, message: str) -> str:
    return f"{path}:{line}:{column}: error: {message}"


# ---------------------------------------------------------------- what a good file gives
def test_rows_comments_blank_lines_and_optional_columns(folder: Path) -> None:
    path = write(folder, "# measured on the board\n\n"
                         "network, pif ,pof,pkx,pky,latency_s,layer\n"
                         "# \x0c a form feed does not start a line\n"
                         "tiny.seg,4,8,1,,0.5,\n"
                         '"codenet_layer.seg:full_plain", 8 ,8,3,3,4.3e-2,conv\r\n'
                         "   # an indented comment\n")
    rows = read_measurements(str(path))
    assert rows == [
        Measurement(str(folder / "tiny.seg"), Unroll(4, 8, 1, 1), 0.5, None, 5),
        Measurement(str(folder / "codenet_layer.seg") + ":full_plain", Unroll(8, 8, 3, 3), 0.043, "conv", 6),
    ]


def test_calibration_still_exports_the_reader() -> None:
    import segc.calibration as calibration
    import segc.measurements as measurements

    assert calibration.read_measurements is measurements.read_measurements
    assert calibration.Measurement is measurements.Measurement
    assert calibration._network("a/b.seg:net") == ("a/b.seg", "net")


# ---------------------------------------------------------------- the header
def test_missing_columns_are_named_with_the_required_and_optional_ones(folder: Path) -> None:
    path = write(folder, "network,pif,pof,pkx\ntiny.seg,4,4,1\n")
    assert error_of(path) == (located(path, 1, 1, f"missing column latency_s; {COLUMNS_HELP}")
                              + "\n    network,pif,pof,pkx\n    " + "^" * len("network,pif,pof,pkx"))
    path = write(folder, "network,pif\ntiny.seg,4\n")
    assert error_of(path).startswith(located(path, 1, 1, "missing columns pof, pkx, latency_s;"))


def test_unknown_column_with_a_close_match(folder: Path) -> None:
    path = write(folder, "network,pif,pof,pkx,latncy_s\ntiny.seg,4,4,1,0.1\n")
    # 'latncy_s' starts after "network,pif,pof,pkx," (20 characters)
    assert error_of(path) == (located(path, 1, 21, f"unknown column 'latncy_s'; did you mean 'latency_s'? "
                                                   f"({COLUMNS_HELP})")
                              + "\n    network,pif,pof,pkx,latncy_s\n" + " " * 24 + "^" * 8)


def test_unknown_column_without_a_close_match(folder: Path) -> None:
    path = write(folder, HEADER.strip() + ",board\ntiny.seg,4,4,1,0.1,u96\n")
    assert error_of(path).startswith(located(path, 1, 31, f"unknown column 'board' ({COLUMNS_HELP})"))


def test_duplicated_column(folder: Path) -> None:
    path = write(folder, "network,pif,pof,pif,pkx,latency_s\ntiny.seg,4,4,4,1,0.1\n")
    assert error_of(path).startswith(located(path, 1, 17, "column 'pif' appears twice (first as column 2)"))


def test_a_comma_too_many_in_the_header(folder: Path) -> None:
    path = write(folder, HEADER.strip() + ",\ntiny.seg,4,4,1,0.1,\n")
    assert error_of(path).startswith(located(path, 1, 31, "column 6 has no name (a comma too many?)"))


def test_semicolons_are_not_commas(folder: Path) -> None:
    path = write(folder, "network;pif;pof;pkx;latency_s\ntiny.seg;4;4;1;0.1\n")
    assert error_of(path) == located(path, 1, 1, "not a measurements header (its text is not shown): no field names "
                                                 f"a column (semicolons separate its fields; CSV takes commas); "
                                                 f"{COLUMNS_HELP}")


@pytest.mark.parametrize("first", ["root:x:0:0:secret:/root:/bin/bash", 'a "secret, never closed'])
def test_a_file_that_is_not_a_measurements_csv_is_not_shown(folder: Path, first: str) -> None:
    path = write(folder, f"# comment\n{first}\n")
    assert error_of(path).startswith(located(path, 2, 1, "not a measurements header (its text is not shown): "))
    assert "secret" not in error_of(path)


# ---------------------------------------------------------------- the rows
INTEGER, DECIMAL = "a positive integer", "a positive finite number"
BAD_NUMBERS = [
    *((f"tiny.seg,4,{text},1,0.1", "pof", 12, INTEGER) for text in ("2.5", "16.0", "four", "-4")),
    ("tiny.seg,0,4,1,0.1", "pif", 10, INTEGER),
    ("tiny.seg,4,4,1e1,0.1", "pkx", 14, INTEGER),
    *((f"tiny.seg,4,4,1,{text}", "latency_s", 16, DECIMAL)
      for text in ("fast", "0", "-0.5", "nan", "inf", "1e999", "1_000")),
]


@pytest.mark.parametrize(("row", "column", "at", "noun"), BAD_NUMBERS)
def test_bad_numbers_are_located(folder: Path, row: str, column: str, at: int, noun: str) -> None:
    path = write(folder, HEADER + row + "\n")
    text = row[at - 1:].split(",")[0]
    assert error_of(path) == (located(path, 2, at, f"column '{column}': expected {noun}, got '{text}'")
                              + f"\n    {row}\n    {' ' * (at - 1)}{'^' * len(text)}")


def test_too_few_fields_point_past_the_end_of_the_row(folder: Path) -> None:
    path = write(folder, HEADER + "tiny.seg,4,4,1,0.1\ntiny.seg,4,4,1\n")
    assert error_of(path) == (located(path, 3, 15, "line 3 has 4 fields; the header (line 1) has 5 columns")
                              + "\n    tiny.seg,4,4,1\n" + " " * 18 + "^")


def test_too_many_fields_point_at_the_extra_ones(folder: Path) -> None:
    path = write(folder, "# comment\n" + HEADER + "tiny.seg,4,4,1,0.1,7,8\n")
    assert error_of(path) == (located(path, 3, 20, "line 3 has 7 fields; the header (line 2) has 5 columns")
                              + "\n    tiny.seg,4,4,1,0.1,7,8\n" + " " * 23 + "^^^")


def test_an_empty_required_field(folder: Path) -> None:
    path = write(folder, HEADER + "tiny.seg,4, ,1,0.1\n")
    assert error_of(path).startswith(located(path, 2, 12, "column 'pof' is empty; every row needs network, pif, "
                                                          "pof, pkx, latency_s"))


def test_an_unclosed_quote(folder: Path) -> None:
    path = write(folder, HEADER + 'tiny.seg,4,"4,1,0.1\n')
    assert error_of(path).startswith(located(path, 2, 12, "this quote is not closed"))


def test_quotes_in_the_middle_of_fields(folder: Path) -> None:
    path = write(folder, HEADER + 'tiny.seg,4,4",1,0.1"\n')
    assert error_of(path).startswith(located(path, 2, 1, "not a CSV line: a quote in the middle of a field"))
    path = write(folder, HEADER + 'tiny.seg,"4"4,4,1,0.1\n')
    assert error_of(path).startswith(located(path, 2, 1, "not a CSV line: ',' expected after '\"'"))


# ---------------------------------------------------------------- no rows, no text
def test_a_header_without_rows(folder: Path) -> None:
    path = write(folder, "# nothing measured yet\n" + HEADER + "\n# later\n")
    assert error_of(path).startswith(located(path, 2, 1, "no measurements: the header is followed by no rows"))


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n# comments\n"])
def test_an_empty_file(folder: Path, text: str) -> None:
    path = write(folder, text)
    assert error_of(path) == (f"{path}: error: no measurements: the file is empty or only comments (expected a "
                              f"header line, then one row per measurement; {COLUMNS_HELP})")


def test_a_file_that_is_not_text(folder: Path) -> None:
    path = folder / "m.csv"
    path.write_bytes(HEADER.encode() + b"\x89PNG\r\n\x1a\n")
    assert error_of(path) == f"{path}:2:1: error: not UTF-8 text (byte 0x89 at offset 30)"
    path.write_bytes(HEADER.encode() + b"tiny.seg,4,4,1,\x000.1\n")
    assert error_of(path) == f"{path}:2:16: error: not a text file (control byte 0x00 at offset 45)"


# ---------------------------------------------------------------- the network column
def test_a_network_file_that_does_not_exist(folder: Path) -> None:
    path = write(folder, HEADER + "tiny.seg,4,4,1,0.1\ntinny.seg,4,4,1,0.1\n")
    assert error_of(path) == (located(path, 3, 1, f"network file not found: {folder / 'tinny.seg'} "
                                                  "('tinny.seg' is relative to the CSV's folder)")
                              + "\n    tinny.seg,4,4,1,0.1\n    " + "^" * len("tinny.seg"))


def test_a_network_that_is_a_folder(folder: Path) -> None:
    path = write(folder, HEADER + "targets,4,4,1,0.1\n")
    assert error_of(path).startswith(located(path, 2, 1, f"{folder / 'targets'} is a folder, not a network file"))


def test_a_network_name_the_file_does_not_define(folder: Path) -> None:
    row = "codenet_layer.seg:full_plane,8,8,3,0.04"
    path = write(folder, HEADER + row + "\n")
    defined = "dw_bounded, dw_deform, dw_plain, dw_square, full_bounded, full_deform, full_plain, full_square"
    assert error_of(path).startswith(
        located(path, 2, 1, f"no network 'full_plane' in {folder / 'codenet_layer.seg'}; did you mean "
                            f"'full_plain'? (it defines: {defined})"))


# ---------------------------------------------------------------- the same run twice
def test_a_run_measured_twice_is_two_measurements(folder: Path) -> None:
    path = write(folder, HEADER + "tiny.seg,4,4,1,0.1\ntiny.seg,4,4,1,0.12\n")
    warnings: list[Diagnostic] = []
    assert [r.latency_s for r in read_measurements(str(path), warnings)] == [0.1, 0.12]
    assert warnings == []


def test_an_exact_repeat_is_kept_and_warned_about(folder: Path) -> None:
    path = write(folder, HEADER + "tiny.seg,4,4,1,0.1\ntiny.seg,4,8,1,0.1\ntiny.seg, 4,4,1,1e-1\n")
    warnings: list[Diagnostic] = []
    assert [r.line for r in read_measurements(str(path), warnings)] == [2, 3, 4]
    assert [w.render().splitlines()[0] for w in warnings] == [
        f"{path}:4:1: warning: this row repeats line 2 exactly; both are kept, so this measurement counts twice "
        "in the fit"]


def test_the_command_prints_the_warning(folder: Path, capsys) -> None:
    path = write(folder, HEADER + "tiny.seg,4,4,1,0.1\ntiny.seg,4,4,1,0.1\n")
    assert main(["calibrate", str(path)]) == 0
    assert f"{path}:3:1: warning: this row repeats line 2 exactly" in capsys.readouterr().err


# ---------------------------------------------------------------- the command line
BAD_FILES = {
    "missing column": "network,pif,pof,pkx\ntiny.seg,4,4,1\n",
    "unknown column": "network,pif,pof,pkx,latncy_s\ntiny.seg,4,4,1,0.1\n",
    "text in a number": HEADER + "tiny.seg,4,x,1,0.1\n",
    "zero latency": HEADER + "tiny.seg,4,4,1,0\n",
    "short row": HEADER + "tiny.seg,4,4,1\n",
    "header only": HEADER,
    "empty": "",
    "no such network file": HEADER + "nothere.seg,4,4,1,0.1\n",
    "no such network": HEADER + "codenet_layer.seg:nope,8,8,3,0.1\n",
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_the_command_exits_1_without_a_traceback(folder: Path, capsys, case: str) -> None:
    path = write(folder, BAD_FILES[case])
    out = folder / "cal.json"
    assert main(["calibrate", str(path), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:") and ": error: " in err and "Traceback" not in err
    assert not out.exists()


def test_the_command_in_a_process_of_its_own(folder: Path) -> None:
    path = write(folder, HEADER + "tiny.seg,4,4,1,nan\n")
    done = subprocess.run([sys.executable, "-m", "segc.cli", "calibrate", str(path), "--cv", "config"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{path}:2:16: error: column 'latency_s': expected a positive finite number, "
                                  "got 'nan'")
