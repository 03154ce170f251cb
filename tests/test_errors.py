"""The catalogue of user mistakes: every ``tests/errors/*.seg`` case must make
``segc check`` exit with status 1, print exactly the expected diagnostics (at
the expected line and column, each followed by its source line and a caret
under that column) and never a Python traceback.

Case files start with comment lines, read in order:

* ``# expect: LINE:COL: MESSAGE`` an error at LINE:COL of the case file (lines
  counted from the top of the file, these comments included);
  ``# expect: PATH:LINE:COL: MESSAGE`` an error in another file (PATH as
  printed, relative to the repository root); ``# expect: MESSAGE`` an error
  without a position;
* ``# note: ...`` a note, in the same three forms;
* ``# network: NAME`` passes ``--network NAME``; ``# args: ...`` more options;
* ``# xfail: REASON`` a known segc bug: the case documents the right
  behaviour and is expected to fail (strictly) until the bug is fixed.

Every comment line before the program must be one of these.
Expectations and notes must appear in the order written, and there must be
exactly as many ``error:`` and ``note:`` lines as expected.  ``tests/errors/aux``
holds files that cases import; they are not cases themselves.

The rest of this file checks bad input that is not a ``.seg`` program (files
that cannot be read, broken JSON, outputs that would overwrite inputs) and
command-line usage errors.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT

from segc.cli import main
from segc.ir import SegError

ERRORS = ROOT / "tests" / "errors"
CASES = sorted(ERRORS.glob("*.seg"))
HEADER = re.compile(r"# (expect|note|network|args|xfail): (.*)")
POSITION = re.compile(r"(?:(?P<path>\S+\.seg):)?(?P<line>\d+):(?P<col>\d+): (?P<message>.*)")
DIAGNOSTIC_LINE = re.compile(r"(?:\S.*: )?(error|note): ")
INDENT = "    "


# ---------------------------------------------------------------- case files
@dataclass
class Expected:
    """One expected diagnostic: severity, where (None: no position), message."""

    severity: str
    message: str
    path: str | None = None
    line: int = 0
    col: int = 0

    def text(self) -> str:
        if self.path is None:
            return f"{self.severity}: {self.message}"
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"


@dataclass
class Case:
    path: str  # relative to ROOT, as segc prints it
    expected: list[Expected] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    xfail: str | None = None

    def count(self, severity: str) -> int:
        return sum(e.severity == severity for e in self.expected)


def _expected(severity: str, text: str, case_path: str) -> Expected:
    match = POSITION.fullmatch(text)
    if match is None:
        return Expected(severity, text)
    path = match["path"] or case_path
    return Expected(severity, match["message"], path, int(match["line"]), int(match["col"]))


def read_case(file: Path) -> Case:
    case = Case(file.relative_to(ROOT).as_posix())
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = HEADER.fullmatch(line)
        if match is None:
            raise ValueError(f"{case.path}: not a header line: {line!r}")
        key, value = match.groups()
        if key in ("expect", "note"):
            case.expected.append(_expected("error" if key == "expect" else "note", value, case.path))
        elif key == "network":
            case.args += ["--network", value]
        elif key == "args":
            case.args += shlex.split(value)
        else:
            case.xfail = value
    return case


def _param(file: Path):
    case = read_case(file)
    marks = [pytest.mark.xfail(reason=f"segc bug: {case.xfail}", strict=True)] if case.xfail else []
    return pytest.param(case, marks=marks, id=file.name)


# ---------------------------------------------------------------- checking output
def _source_line(path: str, line: int) -> str:
    return (ROOT / path).read_text(encoding="utf-8").splitlines()[line - 1]


def _check_excerpt(lines: list[str], at: int, expected: Expected) -> None:
    """The source line and a caret under the column follow the diagnostic."""
    assert at + 2 < len(lines), f"no source excerpt after {expected.text()!r}"
    assert lines[at + 1] == INDENT + _source_line(expected.path, expected.line)
    caret = lines[at + 2]
    assert caret.startswith(INDENT), f"not a caret line: {caret!r}"
    before, under = caret[len(INDENT):expected.col + len(INDENT) - 1], caret[expected.col + len(INDENT) - 1:]
    assert before.strip() == "" and under.startswith("^"), f"caret not under column {expected.col}: {caret!r}"


def _find_in_order(lines: list[str], case: Case) -> None:
    start = 0
    for expected in case.expected:
        text = expected.text()
        found = [i for i in range(start, len(lines)) if lines[i] == text]
        assert found, f"missing (or out of order): {text!r}\n--- stderr:\n" + "\n".join(lines)
        start = found[0] + 1
        if expected.path is not None:
            _check_excerpt(lines, found[0], expected)


def _counts(lines: list[str]) -> dict[str, int]:
    counts = {"error": 0, "note": 0}
    for line in lines:
        match = DIAGNOSTIC_LINE.match(line)
        if match:
            counts[match[1]] += 1
    return counts


@pytest.mark.parametrize("case", [_param(f) for f in CASES])
def test_error_case(case: Case, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert case.count("error") >= 1, f"{case.path} has no '# expect:' line"
    monkeypatch.chdir(ROOT)
    status = main(["check", case.path, *case.args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "internal error" not in err
    assert status == 1
    assert out == ""
    lines = err.splitlines()
    _find_in_order(lines, case)
    assert _counts(lines) == {"error": case.count("error"), "note": case.count("note")}, err


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("aux", sorted((ERRORS / "aux").glob("*.seg")), ids=lambda p: p.name)
def test_aux_file_is_imported(aux: Path) -> None:
    """Files in aux/ are not cases; each serves a case by being imported."""
    importers = [f for f in ERRORS.rglob("*.seg") if f != aux and f'{aux.name}"' in f.read_text(encoding="utf-8")]
    assert importers, f"{aux.name} is imported by no case"


# ---------------------------------------------------------------- other bad input
def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def _fails_with(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The command exits 1 and prints exactly one line: ``message``."""
    status, out, err = _run(argv, capsys)
    assert (status, out, err) == (1, "", message + "\n")


def test_missing_file(work: Path, capsys) -> None:
    _fails_with(["check", "nothing.seg"], "error: cannot read 'nothing.seg': No such file or directory", capsys)


def test_directory_as_file(work: Path, capsys) -> None:
    _fails_with(["check", "targets"], "error: cannot read 'targets': a directory, not a regular file", capsys)


def test_file_not_utf8(work: Path, capsys) -> None:
    (work / "latin1.seg").write_bytes("network caf\u00e9 {}\n".encode("latin-1"))
    # "network caf" is 11 bytes; the next one is é in Latin-1, 0xe9.
    _fails_with(["check", "latin1.seg"], "latin1.seg:1:12: error: not UTF-8 text (byte 0xe9 at offset 11)", capsys)


def test_json_not_valid(work: Path, capsys) -> None:
    (work / "broken.json").write_text('{"format": "segc.graph",\n "version": }\n', encoding="utf-8")
    # The value of "version" is missing: line 2, column 13 is the '}'.
    _fails_with(["check", "broken.json"], "broken.json: error: 2:13: not valid JSON: Expecting value", capsys)


def test_json_wrong_format(work: Path, capsys) -> None:
    (work / "model.json").write_text('{"format": "onnx", "version": 1}\n', encoding="utf-8")
    message = "model.json: error: file: not a segc graph (format is not 'segc.graph')"
    _fails_with(["check", "model.json"], message, capsys)


@pytest.mark.parametrize("output", ["tiny.seg", "./tiny.seg", "targets/../tiny.seg"])
@pytest.mark.parametrize("command", [["export", "tiny.seg", "--to", "seg"], ["fmt", "tiny.seg"]], ids=["export", "fmt"])
def test_refuses_to_overwrite_input(work: Path, capsys, command: list[str], output: str) -> None:
    before = (work / "tiny.seg").read_bytes()
    message = f"error: refusing to overwrite the input file '{output}'; choose another output"
    _fails_with([*command, "-o", output], message, capsys)
    assert (work / "tiny.seg").read_bytes() == before


def test_refuses_to_overwrite_imported_file(work: Path, capsys) -> None:
    imported = work / "targets" / "ultra96.seg"
    before = imported.read_bytes()
    status, _, err = _run(["export", "tiny.seg", "--to", "seg", "-o", "targets/ultra96.seg"], capsys)
    assert imported.read_bytes() == before
    assert status == 1 and err.startswith("error: refusing to overwrite") and err.count("\n") == 1


def test_graph_unknown_picture_format(work: Path, capsys) -> None:
    message = "error: cannot tell the picture format of 'out.xyz'; use .dot, .svg or .png"
    _fails_with(["graph", "tiny.seg", "-o", "out.xyz"], message, capsys)
    assert not (work / "out.xyz").exists()


def test_export_to_missing_folder(work: Path, capsys) -> None:
    message = "error: cannot write '/no/such/dir/out.seg': the folder '/no/such/dir' does not exist"
    _fails_with(["export", "tiny.seg", "--to", "seg", "-o", "/no/such/dir/out.seg"], message, capsys)


def test_json_network_name_mismatch(work: Path, capsys) -> None:
    assert _run(["export", "tiny.seg", "--to", "json", "-o", "tiny.json"], capsys)[0] == 0
    _fails_with(["check", "tiny.json", "--network", "other"],
                "error: no network 'other' in tiny.json (it defines: tiny)", capsys)


def test_long_chain_is_no_internal_error(work: Path, capsys) -> None:
    chain = " -> ".join(["image"] + ["relu"] * 600)
    (work / "chain.seg").write_text(f"network n {{\n    input image: [3, 8, 8]\n    output y = {chain}\n}}\n",
                                    encoding="utf-8")
    status, _, err = _run(["check", "chain.seg"], capsys)
    assert "internal error" not in err
    assert status == 0


@pytest.mark.parametrize("argv", [
    [], ["frobnicate"], ["check"], ["export", "tiny.seg", "--to", "pdf", "-o", "x"], ["graph", "tiny.seg"],
], ids=["no-command", "unknown-command", "missing-file", "bad-choice", "missing-output"])
def test_usage_errors_exit_2(work: Path, capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: segc" in capsys.readouterr().err


def test_debug_lets_seg_error_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SegError, match="unknown op or block 'maxpol'"):
        main(["--debug", "check", "tests/errors/unknown_op.seg"])
