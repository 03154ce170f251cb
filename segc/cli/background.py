"""Work a command leaves to a detached child process, so that its result
does not wait for it: ``run_detached(function, *args)`` pickles the call to
a private temporary file and starts a Python child (``run_job(FILE)``) in
a session of its own (it outlives the command, and a Ctrl-C to the
command's terminal does not reach it); the child reads the call, deletes the
file and runs it.  The function must be importable by name and write its
outputs atomically.  A failure in the child is printed on the standard
error the command had.

``SEGC_FIGURES=inline`` in the environment runs the call in the command's
own process instead, after its result (the test suite's setting, and a
script's that reads the figures as soon as the command returns)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable

__all__ = ["INLINE", "inline", "run_detached", "run_job"]

INLINE = ("SEGC_FIGURES", "inline")
_CHILD = f"import sys; from {__name__} import run_job; sys.exit(run_job(sys.argv[1]))"


def inline() -> bool:
    """Whether the environment asks for figures drawn in the command's process."""
    return os.environ.get(INLINE[0]) == INLINE[1]


def run_detached(function: Callable, *args) -> subprocess.Popen:
    """Start the child that runs ``function(*args)``; returns at once."""
    fd, path = tempfile.mkstemp(prefix="segc-job-", suffix=".pickle")
    try:
        with os.fdopen(fd, "wb") as file:
            pickle.dump((function, args), file, protocol=pickle.HIGHEST_PROTOCOL)
        return subprocess.Popen([sys.executable, "-c", _CHILD, path], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, start_new_session=True)
    except BaseException:
        os.unlink(path)
        raise


def run_job(path: str) -> int:
    """The child's work: the call pickled at ``path`` (the file deleted first); its exit status."""
    from ..ir import SegError

    with open(path, "rb") as file:
        function, args = pickle.load(file)
    os.unlink(path)
    try:
        function(*args)
    except SegError as err:
        print(f"segc (in the background): {err}", file=sys.stderr)
        return 1
    return 0

