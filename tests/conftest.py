"""Shared test fixtures.  ``pytest --update-goldens`` rewrites golden files
instead of comparing against them."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

os.environ["SEGC_VERIFY"] = "all"  # the full check after every pass, also in the CLI's subprocesses
os.environ["SEGC_FIGURES"] = "inline"  # segc search draws its figures before it returns

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
ALL_SEG_FILES = sorted(EXAMPLES.rglob("*.seg"))


def example_networks(path: Path) -> list[str]:
    """The networks an example file defines (examples are in canonical layout)."""
    return re.findall(r"(?m)^network (\w+)", path.read_text(encoding="utf-8"))


def default_network(path: Path) -> str | None:
    """What to pass as --network to load an example: its first network when
    it defines several (examples/codenet_layer.seg), else None."""
    names = example_networks(path)
    return names[0] if len(names) > 1 else None


# Examples that load without --network (one network each).
NETWORK_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.seg") if len(example_networks(p)) == 1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden(name, text)``: compare text with tests/golden/NAME (or write it)."""
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-goldens"
        assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"

    return check


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder holding a copy of examples/tiny.seg and the target it imports."""
    (tmp_path / "targets").mkdir()
    shutil.copy(EXAMPLES / "tiny.seg", tmp_path / "tiny.seg")
    shutil.copy(EXAMPLES / "targets" / "ultra96.seg", tmp_path / "targets" / "ultra96.seg")
    monkeypatch.chdir(tmp_path)
    return tmp_path
