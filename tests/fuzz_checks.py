"""What the fuzz tests check, and how long they may take: whatever the input,
segc either succeeds or raises :class:`segc.ir.SegError` (the CLI: exit
status 0 or 1, no traceback, no "internal error"); text that parses formats
stably; a loaded graph prints to text that loads back to the same graph.

Not a test module: imported by the ``test_fuzz_*`` modules.  Runs are
derandomized (deterministic in CI); ``SEGC_FUZZ_EXAMPLES=2000`` raises the
number of examples per test and switches to random exploration (failures
are kept in hypothesis' database).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import signal
import threading
from pathlib import Path

from conftest import EXAMPLES, default_network
from hypothesis import HealthCheck, note, settings
from hypothesis.control import currently_in_test_context

import segc
from segc.cli import main as cli_main
from segc.dsl import parse_text
from segc.ir import SegError, Span

# ------------------------------------------------------------------ settings
_ENV_EXAMPLES = os.environ.get("SEGC_FUZZ_EXAMPLES")
HANG_SECONDS = 10  # an example that has used this much CPU time is a hang


def fuzz_settings(default_examples: int) -> settings:
    """Deterministic by default; ``SEGC_FUZZ_EXAMPLES`` for long random runs.
    No wall-clock deadline and ``too_slow`` suppressed: whole programs are
    big examples to generate, and on a loaded machine wall time says nothing;
    each example's time in segc is bounded in CPU time by :func:`time_limit`."""
    return settings(
        max_examples=int(_ENV_EXAMPLES) if _ENV_EXAMPLES else default_examples,
        deadline=None,
        derandomize=not _ENV_EXAMPLES,
        database=None if not _ENV_EXAMPLES else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow],
    )


class Hang(BaseException):
    """Raised in the test when segc runs longer than allowed."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block with :class:`Hang` once the process has used
    ``seconds`` of CPU time (``ITIMER_PROF``: user and system time, so a
    loaded machine does not turn a slow example into a hang; POSIX main
    thread only, elsewhere unguarded)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGPROF, interrupt)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# ------------------------------------------------------------------ properties
def load_or_seg_error(text: str, path: str, network: str | None = None) -> segc.Graph | None:
    """The graph, or None when segc rejects the text with a SegError.  Any
    other exception propagates and fails the test."""
    try:
        return segc.loads(text, path, network)
    except SegError:
        return None


def parse_or_none(text: str):
    try:
        return parse_text(text)
    except SegError:
        return None


def check_format_roundtrip(text: str, may_refuse: bool = False) -> None:
    """If the text parses: formatting is idempotent and keeps the syntax
    tree.  ``may_refuse``: the formatter may reject it (too deep) with a SegError."""
    module = parse_or_none(text)
    if module is None:
        return
    try:
        formatted = segc.format_source(text)
    except SegError:
        if may_refuse:
            return
        raise
    try:
        reparsed = parse_text(formatted)
    except SegError as err:
        raise AssertionError(f"formatted text does not parse:\n{err.render()}\n{formatted}") from None
    assert same_tree(reparsed.items, module.items), f"formatting changed the syntax tree:\n{formatted}"
    assert segc.format_source(formatted) == formatted, f"formatting is not idempotent:\n{formatted}"


def same_tree(a: object, b: object) -> bool:
    """``a == b`` for syntax trees (fields with ``compare=False``, the spans,
    are ignored), without recursion: adversarial trees are thousands deep."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            if type(x) is not type(y):
                return False
            pending.extend((getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x) if f.compare)
        elif isinstance(x, (tuple, list)):
            if type(x) is not type(y) or len(x) != len(y):
                return False
            pending.extend(zip(x, y))
        elif x != y:
            return False
    return True


def check_print_roundtrip(graph: segc.Graph) -> None:
    """A loaded graph printed as flat .seg loads back to the same graph."""
    printed = segc.to_seg(graph)
    try:
        again = segc.loads(printed)
    except SegError as err:
        raise AssertionError(f"the printed graph does not load:\n{err.render()}\n{printed}") from None
    assert segc.to_json(again) == segc.to_json(graph), f"the printed graph differs:\n{printed}"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


ACCEPTED, REJECTED = "accepted", "rejected cleanly"
CLEAN = (ACCEPTED, REJECTED)


def classify(code: int, err: str, path: str, span: Span | None = None) -> str:
    """What a CLI run gave: ``ACCEPTED`` (exit 0), ``REJECTED`` (exit 1, a
    clean error naming ``path``; with ``span``, first at ``file:line:col`` of
    that place, which may be in a file ``path`` imports, a note naming
    ``path``), or else a description of what is wrong."""
    if "Traceback" in err or "internal error" in err:
        return "internal error"
    if code == 0:
        return ACCEPTED
    if code != 1:
        return f"exit status {code}"
    if path not in err:
        return "error not naming the file"
    if span is not None and not err.startswith(f"{span.source.path}:{span.line}:{span.column}: error:"):
        return "error not at its place"
    return REJECTED


def cli_verdict(argv: list[str], path: Path, span: Span | None = None) -> tuple[str, str]:
    """``segc ARGV`` in-process on the file ``path``: the verdict (see
    :func:`classify`) and what it printed."""
    code, out, err = run_cli([str(a) for a in argv])
    if currently_in_test_context():
        note(f"segc {' '.join(map(str, argv))}: exit {code}\n{err}")
    return classify(code, err, str(path), span), out


def check_cli(path: Path, command: str = "check", *options: str, span: Span | None = None) -> tuple[str, str]:
    """``segc COMMAND PATH OPTIONS`` accepts the file or rejects it cleanly:
    the verdict and what it printed."""
    verdict, out = cli_verdict([command, path, *options], path, span)
    assert verdict in CLEAN, verdict
    return verdict, out


def check_and_report(path: Path, network: str | None = None) -> str:
    """``segc check`` then ``segc report`` on the file, within the hang limit:
    the first verdict that is not clean, else report's (whose acceptance
    must print a report)."""
    span = first_span(path, network)
    options = ["--network", network] if network else []
    with time_limit(HANG_SECONDS):
        checked, _ = cli_verdict(["check", path, *options], path, span)
        reported, out = cli_verdict(["report", path, *options], path, span)
    if checked not in CLEAN:
        return checked
    return "report accepted without a table" if reported == ACCEPTED and "latency_ms" not in out else reported


def first_span(path: Path, network: str | None = None) -> Span | None:
    """Where loading ``path`` through the API fails, when the error has a
    place: the place the CLI's error must name first."""
    try:
        segc.load(str(path), network)
    except SegError as err:
        return err.diagnostics[0].span
    return None


# ------------------------------------------------------------------ shared inputs
def small_network(body: str, before: str = "") -> str:
    """Network ``n`` with an input ``x: [3, 8, 8]`` and the given body lines."""
    return f"{before}network n {{\n    input x: [3, 8, 8]\n{body}\n}}\n"


def copy_example_imports(folder: Path) -> Path:
    """``folder`` with copies of examples/blocks and examples/targets, so that
    a fuzzed program written there finds its imports."""
    for sub in ("blocks", "targets"):
        shutil.copytree(EXAMPLES / sub, folder / sub)
    return folder


def network_option(example: Path) -> list[str]:
    """``--network NAME`` for an example that defines several networks."""
    network = default_network(example)
    return ["--network", network] if network else []


def example_id(path: Path) -> str:
    """The test id of an example file: its path under examples/."""
    return str(path.relative_to(EXAMPLES))
