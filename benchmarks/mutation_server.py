"""A fork server for ``benchmarks/mutation.py``'s test command: one process
imports the heavy libraries the tests use (torch, hypothesis, numpy,
networkx, lark, pytest) once, then forks a child per mutant that imports
segc afresh from the mutated copy and runs ``mutation_select.py`` in it, so
a mutant's run pays for neither the interpreter's start nor those imports.

    python mutation_server.py serve SOCKET             # until killed
    python mutation_server.py run SOCKET ARGS...       # mutation_select.py's ARGS, in this folder

``run`` exits with the tests' status. It is what cosmic-ray runs and kills
at its time limit: the server then kills the child and everything the child
started. The server never imports segc, the tests, or conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import traceback
from pathlib import Path

# Libraries imported once, before any fork: third-party only, never segc.
PRELOAD = ("numpy", "networkx", "lark", "torch", "hypothesis", "hypothesis.strategies", "pytest")
OUTPUT = "mutation-output.txt"  # a child's stdout and stderr, in the folder it ran in


def serve(path: str) -> None:
    """Answer ``run`` requests one at a time until killed."""
    import importlib

    sys.dont_write_bytecode = True  # a mutant may be written within the second of the last
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a library the tests skip without
            importlib.import_module(name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    while True:
        connection, _ = server.accept()
        with connection:
            request = json.loads(connection.makefile("r", encoding="utf-8").readline())
            status = run_child(request, connection)
            if status is not None:
                connection.sendall(f"{status}\n".encode())


def run_child(request: dict, connection: socket.socket) -> int | None:
    """Fork, run the tests in the child, wait for it; None when the client
    went away first (its time limit), having killed the child's group."""
    child = os.fork()
    if child == 0:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        output = os.open(OUTPUT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os._exit(child_main(request["argv"]))
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) % 256
        if select.select([connection], [], [], 0.05)[0]:  # the client closed: killed at its limit
            os.killpg(child, signal.SIGKILL)
            os.waitpid(child, 0)
            return None


def child_main(argv: list[str]) -> int:
    """``mutation_select.py``'s status on ``argv``: never returns into the server's loop."""
    status = 1
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from mutation_select import main

        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return status


def run(path: str, argv: list[str]) -> int:
    """Have the server run the tests here; their output, then their status."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    request = {"cwd": os.getcwd(), "env": dict(os.environ), "argv": argv}
    client.sendall((json.dumps(request) + "\n").encode())
    reply = client.makefile("r", encoding="utf-8").readline()
    sys.stdout.write(Path(OUTPUT).read_text(encoding="utf-8", errors="replace"))
    return int(reply)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "serve":
        serve(argv[1])
        return 0
    if len(argv) >= 2 and argv[0] == "run":
        return run(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
