"""The HTML pages of ``segc report`` and ``segc search`` in a real headless
Chromium: no console or page errors, one table row per layer, a click on a
header sorts the rows, every picture is drawn.  Skipped, saying what to
install, without a Chromium binary or the playwright package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES

from segc.cli import main

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no 'chromium' or 'chromium-browser' on the PATH: install a Chromium (on Debian: "
                    "apt-get install chromium) to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the 'playwright' package is missing: pip install -e '.[test]' (the system Chromium is used; "
                    "'playwright install' is not needed)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield launched
        launched.close()


class Opened:
    """A page loaded from a file, with every console error and page error."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")

    def column(self, table: int, index: int) -> list[str]:
        """The texts of column ``index`` of table ``table``, top to bottom."""
        rows = self.page.locator("table.segc-sortable").nth(table).locator("tbody tr")
        return [text.strip() for text in rows.locator(f"td:nth-child({index + 1})").all_inner_texts()]

    def click_header(self, table: int, header: str) -> None:
        head = self.page.locator("table.segc-sortable").nth(table).locator("thead th")
        head.filter(has_text=header).first.click()

    def pictures_drawn(self) -> list[tuple[int, float, float]]:
        """(natural width, shown width, shown height) of every picture."""
        return self.page.eval_on_selector_all("img", "els => els.map(e => {"
                                              "const r = e.getBoundingClientRect(); "
                                              "return [e.naturalWidth, r.width, r.height]; })")


@pytest.fixture(scope="module")
def report_page(browser, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(EXAMPLES / "tiny_seg.seg"), "-o", str(out)]) == 0
    opened = Opened(browser, out / "report.html")
    yield opened, json.loads((out / "report.json").read_text())
    opened.page.close()


@pytest.fixture(scope="module")
def search_page(browser, tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    assert main(["search", str(EXAMPLES / "tiny_seg.seg"), "--pop", "4", "--gen", "2", "-o", str(out)]) == 0
    opened = Opened(browser, out / "search.html")
    yield opened, json.loads((out / "pareto.json").read_text())
    opened.page.close()


def test_report_page_loads_cleanly_with_a_row_per_layer(report_page) -> None:
    opened, data = report_page
    assert opened.errors == []
    # tiny_seg: image, 4 conv-bn-relu stacks (stem, down, context.0, context.1), merged, classifier, logits, output
    names = opened.column(0, 0)
    assert len(names) == 1 + 4 * 3 + 4 == 17
    assert names == [layer["name"] for layer in data["layers"]]
    assert opened.page.locator("table.segc-sortable tfoot td").first.inner_text() == "total"


def test_report_table_sorts_by_a_clicked_header(report_page) -> None:
    opened, data = report_page
    by_latency = sorted(data["layers"], key=lambda layer: layer["latency_s"])  # stable: ties keep the file order
    opened.click_header(0, "latency_ms")
    assert opened.column(0, 0) == [layer["name"] for layer in by_latency]
    opened.click_header(0, "latency_ms")
    descending = opened.column(0, 0)
    assert descending == [layer["name"] for layer in sorted(data["layers"], key=lambda layer: -layer["latency_s"])]
    assert descending[:3] == ["context.0.conv", "context.1.conv", "stem.conv"]  # 70.9, 70.9 and 61.4 µs
    opened.click_header(0, "dram_in")  # numerically, not as the text "294,912"
    assert opened.column(0, 0)[-3:] == ["down.conv", "context.0.conv", "context.1.conv"]
    opened.click_header(0, "name")
    names = opened.column(0, 0)
    assert (names[0], names[-1]) == ("classifier", "stem.relu")


def test_table_fragment_sorts_by_value_where_the_text_ties(browser, report_page) -> None:
    """The notebook fragment alone; three layers whose latencies all show as
    0.0000 ms sort by the seconds behind them."""
    from segc.backends.report.html import layer_table_html

    _, data = report_page
    layers = [dict(layer) for layer in data["layers"][:3]]
    for layer, seconds in zip(layers, (3e-9, 1e-9, 2e-9)):
        layer["latency_s"] = seconds
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content(layer_table_html({**data, "layers": layers}))
    page.locator("thead th").filter(has_text="latency_ms").click()
    cells = page.locator("tbody td:first-child").all_inner_texts()
    assert cells == [layers[1]["name"], layers[2]["name"], layers[0]["name"]] and errors == []
    page.close()


def test_report_pictures_are_drawn(report_page, tmp_path) -> None:
    opened, _ = report_page
    pictures = opened.pictures_drawn()
    assert len(pictures) == 3  # roofline, latency bars, graph
    assert all(natural > 0 and width > 0 and height > 0 for natural, width, height in pictures)
    shot = tmp_path / "report.png"
    opened.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_search_page_loads_cleanly_and_sorts_the_front(search_page) -> None:
    opened, document = search_page
    assert opened.errors == []
    front = document["front"]
    assert opened.column(0, 0) == [str(i) for i in range(len(front))]
    opened.click_header(0, "accuracy")
    assert opened.column(0, 0) == [str(i) for i in sorted(range(len(front)), key=lambda i: front[i]["accuracy"])]
    # tiny_seg prunes the outputs of stem.conv, down.conv, context.0.conv and context.1.conv
    assert sorted(opened.column(1, 0)) == ["context.0.conv", "context.1.conv", "down.conv", "stem.conv"]
    pictures = opened.pictures_drawn()
    assert len(pictures) == 2  # the Pareto plot, the graph
    assert all(natural > 0 and width > 0 and height > 0 for natural, width, height in pictures)
