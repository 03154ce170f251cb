"""Outputs never clobber what they must not, and folders are written whole:
special files refused, foreign files kept (or refused without --force),
inputs never touched, a kill leaves the old folder or the new one."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES

from segc import outputs
from segc.cli import main
from segc.ir import SegError

TINY = str(EXAMPLES / "tiny.seg")
MANIFEST = ".segc-manifest.json"


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- special files
def test_a_fifo_is_refused_as_a_file_and_as_a_folder(capsys, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    for argv in (["export", TINY, "--to", "seg"], ["report", TINY], ["graph", TINY]):
        code, err = run(capsys, *argv, "-o", fifo)
        assert code == 1 and f"refusing to write '{fifo}': it is a FIFO (named pipe)" in err, err
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe.dot"]  # no temporary left either


@pytest.fixture
def char_device(tmp_path: Path) -> Path:
    """A character device to aim outputs at: a node like /dev/null's, made
    in the scratch folder, so a bug that replaced it would replace only it."""
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
    except OSError as err:
        pytest.skip(f"cannot make a character device here ({err.strerror}; mknod needs root)")
    return node


def test_dev_null_is_refused_without_writing() -> None:
    with pytest.raises(SegError, match="character device"):
        outputs.check_file("/dev/null")


def test_a_character_device_is_refused_directly_and_through_a_link(capsys, tmp_path: Path, char_device: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(char_device)
    for target in (char_device, link):
        code, err = run(capsys, "export", TINY, "--to", "json", "-o", target)
        assert code == 1 and "it is a character device" in err, err
        assert stat.S_ISCHR(os.lstat(char_device).st_mode)
    assert "(through a symbolic link)" in err
    assert link.is_symlink() and os.readlink(link) == str(char_device)
    with pytest.raises(SegError, match="character device"):
        outputs.write_folder(str(char_device), {"a": b"x"})
    assert stat.S_ISCHR(os.lstat(char_device).st_mode)


def test_a_link_to_a_regular_file_is_followed(capsys, tmp_path: Path) -> None:
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    link.symlink_to(real.name)
    assert run(capsys, "export", TINY, "--to", "json", "-o", link)[0] == 0
    assert link.is_symlink() and json.loads(real.read_text())["name"] == "tiny"


def test_a_folder_output_onto_a_file_and_a_file_output_onto_a_folder(capsys, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("mine")
    code, err = run(capsys, "report", TINY, "-o", tmp_path / "f")
    assert code == 1 and "the output is a folder, but" in err and (tmp_path / "f").read_text() == "mine"
    code, err = run(capsys, "export", TINY, "--to", "seg", "-o", tmp_path)
    assert code == 1 and "it is a folder; give a file name" in err


# ---------------------------------------------------------------- foreign files and inputs
def test_foreign_files_need_force_which_keeps_them(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("build.sh").write_text("my own build\n")
    Path("notes.txt").write_text("keep me\n")
    code, err = run(capsys, "dse", TINY, "-o", ".")
    assert code == 1 and "holds files segc did not write (build.sh, notes.txt)" in err and "--force" in err
    assert sorted(os.listdir()) == ["build.sh", "notes.txt"]
    assert run(capsys, "dse", TINY, "-o", ".", "--force")[0] == 0
    assert Path("build.sh").read_text() == "my own build\n" and Path("notes.txt").read_text() == "keep me\n"
    assert sorted(json.loads(Path(MANIFEST).read_text())["files"]) == ["dse.json", "pareto.png"]
    code, err = run(capsys, "dse", TINY, "-o", ".")  # the user's files are still foreign
    assert code == 1 and "build.sh" in err


def test_a_file_changed_since_segc_wrote_it_is_foreign(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "d"
    assert run(capsys, "dse", TINY, "-o", folder)[0] == 0
    (folder / "dse.json").write_text("edited by hand")
    code, err = run(capsys, "dse", TINY, "-o", folder)
    assert code == 1 and "dse.json (changed since)" in err
    assert (folder / "dse.json").read_text() == "edited by hand"


def test_a_folder_holding_an_input_is_refused_even_with_force(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    assert run(capsys, "compile", TINY, "--emit", "json", "-o", folder)[0] == 0
    graph = folder / "tiny.json"
    before = graph.read_bytes()
    for extra in ([], ["--force"]):
        code, err = run(capsys, "compile", graph, "--emit", "report", "-o", folder, *extra)
        assert code == 1 and f"it holds the input file '{graph}'" in err, err
    assert graph.read_bytes() == before


def test_the_manifest_is_deterministic_and_complete(capsys, tmp_path: Path) -> None:
    import hashlib

    for name in ("a", "b"):
        assert run(capsys, "dse", TINY, "-o", tmp_path / name)[0] == 0
    manifest = (tmp_path / "a" / MANIFEST).read_bytes()
    assert manifest == (tmp_path / "b" / MANIFEST).read_bytes()
    files = json.loads(manifest)["files"]
    assert files == {name: hashlib.sha256((tmp_path / "a" / name).read_bytes()).hexdigest()
                     for name in ("dse.json", "pareto.png")}


def test_a_search_clears_the_points_of_an_earlier_run(capsys, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = tmp_path / "s"
    argv = ("search", TINY, "--pop", "4", "--gen", "1", "-o", folder, "--export")
    assert run(capsys, *argv, "2")[0] == 0
    assert {"point0.seg", "point1.seg"} <= set(os.listdir(folder))
    assert run(capsys, *argv, "1")[0] == 0
    assert sorted(n for n in os.listdir(folder) if n.startswith("point")) == ["point0.safetensors", "point0.seg"]


def test_the_api_writers_refuse_too(tmp_path: Path) -> None:
    from segc.hls import write_files

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SegError, match="FIFO"):
        write_files({"build.sh": b"#!/bin/sh\n"}, str(tmp_path / "pipe"))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "network.h").write_text("mine")
    with pytest.raises(SegError, match=r"did not write \(network.h\).*--force"):
        write_files({"build.sh": b"#!/bin/sh\n"}, str(tmp_path / "p"))
    write_files({"build.sh": b"#!/bin/sh\n"}, str(tmp_path / "p"), force=True)
    assert (tmp_path / "p" / "network.h").read_text() == "mine"
    assert os.access(tmp_path / "p" / "build.sh", os.X_OK)


def test_what_the_build_of_an_hls_project_makes_is_segcs(tmp_path: Path) -> None:
    from segc.hls import write_files

    folder = tmp_path / "p"
    write_files({"build.sh": b"#!/bin/sh\n", "network.cpp": b"int x;\n"}, str(folder))
    for made in ("csim", "output.bin", "network.o"):  # what build.sh and the test bench make
        (folder / made).write_bytes(b"built")
    write_files({"build.sh": b"#!/bin/sh\n"}, str(folder))
    assert sorted(os.listdir(folder)) == [MANIFEST, "build.sh"]


# ---------------------------------------------------------------- whole folders
def test_a_rewrite_swaps_the_folder_and_drops_stale_files(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    outputs.write_folder(str(folder), {"a.txt": "1", "sub/b.txt": "2"})
    inode = folder.stat().st_ino
    outputs.write_folder(str(folder), {"c.txt": "3"})
    assert tree(folder) == {"c.txt": b"3", MANIFEST: tree(folder)[MANIFEST]}
    assert folder.stat().st_ino != inode  # a new folder, swapped in
    assert os.listdir(tmp_path) == ["out"]


def test_the_current_folder_is_written_in_place(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    outputs.write_folder(".", {"a.txt": "1", "b.txt": "2"})
    outputs.write_folder(".", {"a.txt": "3"})
    assert sorted(os.listdir()) == [MANIFEST, "a.txt"] and Path("a.txt").read_text() == "3"
    assert os.path.samefile(".", tmp_path)


def test_leftovers_of_ended_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / ".segc-out.999999999.x1"  # no process has this id
    (dead / "half").mkdir(parents=True)
    live = tmp_path / f".segc-out.{os.getppid()}.x2"
    live.mkdir()
    outputs.write_folder(str(tmp_path / "out"), {"a": "1"})
    assert sorted(os.listdir(tmp_path)) == [live.name, "out"]


VERSIONS = {tag: {f"f{i:03}.bin": bytes([i % 256]) * 20_000 + tag.encode() for i in range(count)}
            for tag, count in (("old", 60), ("new", 40))}

WRITER = """
import sys
from segc import outputs
versions = {tag: {f"f{i:03}.bin": bytes([i % 256]) * 20_000 + tag.encode() for i in range(count)}
            for tag, count in (("old", 60), ("new", 40))}
print("ready", flush=True)
while True:
    for tag in ("new", "old"):
        outputs.write_folder(sys.argv[1], versions[tag])
"""


def _whole(folder: Path) -> str:
    files = tree(folder)
    manifest = json.loads(files.pop(MANIFEST))["files"]
    tag = next(t for t, v in VERSIONS.items() if files == v)  # StopIteration: a mix
    assert sorted(manifest) == sorted(files)
    return tag


def test_a_kill_leaves_the_old_folder_or_the_new_one(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    outputs.write_folder(str(folder), VERSIONS["old"])
    seen, interrupted, rng = set(), 0, random.Random(12)
    for attempt in range(40):  # at least 6 kills, and on until one has come mid-write (timing varies under load)
        if attempt >= 6 and interrupted:
            break
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        seen.add(_whole(folder))
        interrupted += any(n.startswith(".segc-") for n in os.listdir(tmp_path))
    outputs.write_folder(str(folder), VERSIONS["new"])  # a re-run succeeds and clears the temporaries
    assert _whole(folder) == "new" and os.listdir(tmp_path) == ["out"]
    assert interrupted  # some kill came mid-write (which version stayed depends on timing)


def test_a_kill_while_writing_in_place_leaves_nothing_foreign(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the current folder is written in place
    rng = random.Random(5)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", WRITER, "."], stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        outputs.check_folder(".")  # no --force needed
    outputs.write_folder(".", VERSIONS["old"])
    assert _whole(tmp_path) == "old" and not [n for n in os.listdir() if n.startswith(".segc-") and n != MANIFEST]


CRASH_BETWEEN_RENAMES = """
import os, signal, sys
from segc import outputs
outputs._exchange = lambda first, second: False  # the portable swap: two renames
renames = []
def rename(source, destination):
    renames.append(source)
    if len(renames) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace(source, destination)
os.rename = rename
outputs.write_folder(sys.argv[1], {"b": "new"})
"""


def test_a_kill_between_the_two_renames_is_recovered_by_a_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    outputs.write_folder(str(folder), {"a": "old"})
    code = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_RENAMES, str(folder)]).returncode
    assert code == -signal.SIGKILL
    assert not folder.exists()
    aside = [n for n in os.listdir(tmp_path) if n.endswith(".old")]
    assert len(aside) == 1 and (tmp_path / aside[0] / "a").read_text() == "old"  # the old folder, whole
    outputs.write_folder(str(folder), {"b": "new"})
    assert os.listdir(tmp_path) == ["out"] and (folder / "b").read_text() == "new"
