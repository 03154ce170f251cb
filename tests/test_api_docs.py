"""docs/api.md runs as written: its ``pycon`` blocks are one doctest, run
in a scratch folder that sees the repository's examples."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```pycon\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def doc_examples() -> str:
    """The pycon blocks of the walkthrough, in order, as one doctest text."""
    return "\n".join(BLOCK.findall(DOC.read_text(encoding="utf-8")))


def test_the_walkthrough_has_examples_of_every_verb():
    text = doc_examples()
    for verb in ("segc.load(", "segc.check(", ".run(", ".report(", ".prune(", ".search(", ".export(",
                 ".to_torch(", ".to_onnx(", ".to_hls("):
        assert verb in text, f"docs/api.md shows no example of {verb}"


def test_the_api_walkthrough_runs(tmp_path, monkeypatch):
    pytest.importorskip("pandas", reason="the walkthrough's DataFrame example needs pandas (the 'test' extra)")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(doc_examples(), {}, "docs/api.md", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "\n".join(failures)
