"""The one way segc opens an input file.

Every file segc reads (``.seg`` sources and their imports, JSON graphs,
calibration files and measurement CSVs, rates files, weights, ONNX models,
``.npy``/``.npz`` inputs, dataset images) goes through :func:`open_input`:

* only a regular file is opened: a FIFO, a device, a socket or a directory is
  refused by name, checked with ``stat`` before opening and again with
  ``fstat`` on the descriptor, which is opened non-blocking so that a FIFO
  swapped in between never blocks;
* its size is checked against a limit before anything is read: text inputs
  (``.seg``, JSON, CSV, rates) at most ``SEGC_MAX_TEXT_BYTES`` (16 MiB),
  data (weights, ONNX, arrays, images) at most ``SEGC_MAX_DATA_BYTES``
  (4 GiB); both environment variables take a number of bytes;
* text must be UTF-8 without control characters (tab, newline, carriage
  return and form feed aside); errors give the byte and its offset, never
  the content.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from .diagnostics import Diagnostic, Note, SegError, Span
from .limits import env_limit

__all__ = ["LIMITS", "check_size", "given_directly", "input_limit", "library_reason", "open_input", "read_bytes",
           "read_text"]

# kind -> (environment variable, default limit in bytes)
LIMITS = {"text": ("SEGC_MAX_TEXT_BYTES", 16 * 2**20), "data": ("SEGC_MAX_DATA_BYTES", 4 * 2**30)}

_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")


def input_limit(kind: str) -> int:
    """The size limit in bytes of an input of ``kind`` ("text" or "data")."""
    return env_limit(LIMITS[kind])


def _fail(path: str, reason: str, span: Span | None) -> SegError:
    return SegError(Diagnostic(f"cannot read '{path}': {reason}", span))


def check_size(path: str, size: int, kind: str, span: Span | None = None, what: str = "") -> None:
    """SegError if ``size`` bytes (``what``: of what, when not the file's)
    is over the limit of ``kind``."""
    limit = input_limit(kind)
    if size > limit:
        raise _fail(path, f"{what}{size:,} bytes, over the limit of {limit:,} for {kind} inputs "
                          f"(set {LIMITS[kind][0]} to raise it)", span)


def _check(path: str, mode: int, size: int, kind: str, span: Span | None) -> None:
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise _fail(path, f"{what}, not a regular file", span)
    check_size(path, size, kind, span)


@contextmanager
def open_input(path: str, kind: str = "text", span: Span | None = None) -> Iterator[BinaryIO]:
    """A regular file open for reading in binary, its size within the limit
    of ``kind``; SegError (at ``span``) naming the file and the reason otherwise."""
    try:
        info = os.stat(path)
        _check(path, info.st_mode, info.st_size, kind, span)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise _fail(path, err.strerror or str(err), span) from None
    except ValueError:  # a NUL, or a name the file system cannot encode
        what = "a NUL character" if "\0" in path else "a character the file system cannot encode"
        raise _fail(path, f"the path contains {what}", span) from None
    handle = os.fdopen(fd, "rb")
    with handle:
        info = os.fstat(fd)
        _check(path, info.st_mode, info.st_size, kind, span)
        os.set_blocking(fd, True)
        yield handle


def read_bytes(path: str, kind: str = "data", span: Span | None = None) -> bytes:
    """The whole content of a regular file within the size limit of ``kind``."""
    with open_input(path, kind, span) as handle:
        try:
            data = handle.read(input_limit(kind) + 1)
        except OSError as err:
            raise _fail(path, err.strerror or str(err), span) from None
    _check(path, stat.S_IFREG, len(data), kind, span)  # it grew while being read
    return data


def read_text(path: str, span: Span | None = None) -> str:
    """A text file's content (UTF-8, an optional byte-order mark dropped);
    SegError for anything else, at the offending byte (its value, line,
    column and offset), never showing the text around it."""
    data = read_bytes(path, "text", span)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _not_text(path, data, err.start, "not UTF-8 text (byte", span) from None
    control = _CONTROL.search(data)
    if control is not None:
        raise _not_text(path, data, control.start(), "not a text file (control byte", span)
    return text


def _not_text(path: str, data: bytes, offset: int, what: str, span: Span | None) -> SegError:
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[data.rfind(b"\n", 0, offset) + 1 : offset].decode("utf-8", errors="replace")) + 1
    notes = (Note("named here", span),) if span is not None else ()
    return SegError(Diagnostic(f"{what} 0x{data[offset]:02x} at offset {offset})", notes=notes,
                               path=f"{path}:{line}:{column}"))


def given_directly(path: str) -> bool:
    """Whether ``path`` stands for text given directly (``<string>``), not a file."""
    return path.startswith("<") and path.endswith(">")


def library_reason(err: BaseException) -> str:
    """A library's reason for refusing a file, never quoting the file: the
    first line of its message when that quotes nothing, else the error's kind."""
    first = str(err).splitlines()[0].strip() if str(err).strip() else ""
    if not first or len(first) > 120 or any(ch in first for ch in "'\"`<>") or not first.isprintable():
        return type(err).__name__
    return first
