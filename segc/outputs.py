"""Writing outputs so that nothing is clobbered and nothing is left half done.

* A file output (:func:`write_atomic`) is written to a temporary file beside
  it and renamed over it.  The path may be absent or a regular file; a
  symbolic link is followed (the file it points to is replaced, the link
  stays); anything else (a folder, a FIFO, a device, a socket, or a link to
  one) is refused before anything is written.
* A folder output (:func:`write_folder`) is built whole in a temporary
  sibling folder and swapped in: on Linux by an atomic exchange of the two
  folders, elsewhere by two renames (for an instant between them the path is
  absent and the old folder waits beside it; a re-run writes the folder
  again).  A kill therefore leaves the complete old folder or the complete
  new one.  The folder records what segc wrote in ``.segc-manifest.json``;
  a folder holding anything else (a file not in the manifest, or changed
  since segc wrote it) is only written with ``force``, and then in place:
  segc's files are replaced one by one (each whole), the ones the new
  output no longer has are removed, and every other file is kept.  The
  current folder (which a swap would delete under the shell), and a folder
  that cannot be swapped (a read-only parent, a mount point), are written
  in place too; meanwhile the manifest accepts any content of segc's files,
  so a kill leaves nothing foreign, and a re-run completes the folder.
* An output never overwrites an input, and a folder output never holds one.
* Temporaries are named ``.segc-NAME.PID.*``; a later run removes those of
  processes that have ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping

from .ir import Diagnostic, SegError

__all__ = ["MANIFEST", "check_file", "check_folder", "write_atomic", "write_folder"]

MANIFEST = ".segc-manifest.json"
PREFIX = ".segc-"
SHOWN_FOREIGN = 5  # foreign files named in the refusal
ANY = "*"  # the manifest's digest of a file the output's own build makes (any content)

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(path: str) -> str | None:
    """'file', 'folder', what else the path is (following links), or None if absent."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise SegError(Diagnostic(f"cannot write '{path}': {err.strerror or err}")) from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _refuse_special(path: str, kind: str | None, want: str) -> None:
    if kind not in (None, "file", "folder"):
        link = " (through a symbolic link)" if os.path.islink(path) else ""
        raise SegError(Diagnostic(f"refusing to write '{path}': it is {kind}{link}; the output must be {want}"))


def _same_or_inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _input_within(path: str, inputs: Collection[str]) -> str | None:
    """The first of ``inputs`` that is ``path`` or lies inside it."""
    target = os.path.realpath(path)
    return next((i for i in inputs if os.path.exists(i) and _same_or_inside(os.path.realpath(i), target)), None)


def check_file(path: str, inputs: Collection[str] = ()) -> None:
    """Refuse a file output that is an input or not a regular file (or absent)."""
    kind = _kind(path)
    _refuse_special(path, kind, "a regular file or a new name")
    if kind == "folder":
        raise SegError(Diagnostic(f"cannot write '{path}': it is a folder; give a file name"))
    if _input_within(path, inputs):
        raise SegError(Diagnostic(f"refusing to overwrite the input file '{path}'; choose another output"))


# ---------------------------------------------------------------- temporaries
def _temp_prefix(name: str) -> str:
    return f"{PREFIX}{name[:80]}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_leftovers(directory: str, name: str) -> None:
    """Remove the temporaries of ``name`` that ended processes left in ``directory``."""
    start = f"{PREFIX}{name[:80]}."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        pid = entry[len(start):].partition(".")[0]
        if entry.startswith(start) and pid.isdigit() and not _alive(int(pid)):
            path = os.path.join(directory, entry)
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)


def _new_mode(path: str | None, default: int) -> int:
    """The mode of the file or folder replaced, or what the umask gives a new one."""
    if path and os.path.exists(path):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return default & ~umask


def _executable(mode: int) -> int:
    return mode | ((mode & 0o444) >> 2)  # executable wherever readable


def _payload(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def write_atomic(path: str, data: str | bytes, inputs: Collection[str] = ()) -> None:
    """Write a whole file or nothing: a temporary file beside it, then a
    rename.  Refuses to overwrite any of ``inputs``, and anything that is
    not a regular file (see the module's notes on links)."""
    check_file(path, inputs)
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise SegError(Diagnostic(f"cannot write '{path}': the folder '{os.path.dirname(path)}' does not exist"))
    clean_leftovers(directory, os.path.basename(target))
    try:
        fd, temp = tempfile.mkstemp(prefix=_temp_prefix(os.path.basename(target)), dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_payload(data))
            os.chmod(temp, _new_mode(target, 0o666))
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as err:
        raise SegError(Diagnostic(f"cannot write '{path}': {err.strerror or err}")) from None


# ---------------------------------------------------------------- manifest
def _digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_text(files: Mapping[str, bytes], generated: Collection[str]) -> str:
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    document = {"format": "segc.outputs", "version": 1, "files": digests, "generated": sorted(generated)}
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def _read_manifest(folder: str) -> dict[str, str]:
    """{relative path: sha256, or ANY for a file the output's own build makes}
    of what segc wrote in ``folder``; {} without a readable manifest."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as handle:
            document = json.load(handle)
        files, generated = document.get("files"), document.get("generated", [])
    except (OSError, ValueError, AttributeError):
        return {}
    ok = isinstance(files, dict) and all(isinstance(v, str) for v in files.values()) and isinstance(generated, list)
    return {**dict.fromkeys(map(str, generated), ANY), **files} if ok else {}


def _foreign(folder: str, manifest: Mapping[str, str]) -> Iterator[str]:
    """What ``folder`` holds that segc did not write as it is now (names beginning ``.segc-`` are segc's own)."""
    parents = {p for name in manifest for p in _ancestors(os.path.dirname(name))}
    for root, dirs, names in os.walk(folder):
        rel = os.path.relpath(root, folder).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        ours = {d for d in dirs if prefix + d in parents and not os.path.islink(os.path.join(root, d))}
        yield from (prefix + d + "/" for d in sorted(dirs) if d not in ours and not d.startswith(PREFIX))
        dirs[:] = sorted(ours)
        for name in sorted(n for n in names if not n.startswith(PREFIX)):
            if not _unchanged(os.path.join(root, name), manifest.get(prefix + name)):
                yield prefix + name + (" (changed since)" if prefix + name in manifest else "")


def _unchanged(path: str, digest: str | None) -> bool:
    """Whether ``path`` is a regular file (not a link) with the ``digest`` segc recorded."""
    return digest is not None and os.path.isfile(path) and not os.path.islink(path) \
        and digest in (ANY, _digest(path))


def _ancestors(name: str) -> Iterator[str]:
    while name:
        yield name
        name = os.path.dirname(name)


def _first(items: Iterator[str], count: int) -> list[str]:
    found = []
    for item in items:
        found.append(item)
        if len(found) == count:
            break
    return found


def check_folder(path: str, inputs: Collection[str] = (), force: bool = False) -> bool:
    """Refuse a folder output that is a file or special, holds an input, or
    (without ``force``) holds files segc did not write.  Whether it holds
    any such files (and so is written in place)."""
    kind = _kind(path)
    _refuse_special(path, kind, "a folder")
    if kind == "file":
        raise SegError(Diagnostic(f"cannot write '{path}': the output is a folder, but '{path}' is a file"))
    held = _input_within(path, inputs)
    if held:
        raise SegError(Diagnostic(f"refusing to write the folder '{path}': it holds the input file '{held}'; "
                                  "choose another output folder"))
    if kind is None:
        return False
    foreign = _first(_foreign(path, _read_manifest(path)), SHOWN_FOREIGN + 1)
    if foreign and not force:
        shown = ", ".join(foreign[:SHOWN_FOREIGN]) + (", ..." if len(foreign) > SHOWN_FOREIGN else "")
        raise SegError(Diagnostic(f"refusing to write into '{path}': it holds files segc did not write ({shown}); "
                                  "choose another output folder, or give --force to replace segc's files there "
                                  "and keep the others"))
    return bool(foreign)


# ---------------------------------------------------------------- folders
def write_folder(path: str, files: Mapping[str, str | bytes], inputs: Collection[str] = (), force: bool = False,
                 executable: Collection[str] = (), generated: Collection[str] = ()) -> list[str]:
    """Write ``files`` ({relative path: content}) as the folder ``path``,
    whole (see the module's notes), with ``executable`` files executable
    wherever readable.  ``generated``: files the output's own build may
    make there (whatever their content, they are segc's).  The paths written."""
    files = {name: _payload(data) for name, data in files.items()}
    outside = [n for n in files if os.path.isabs(n) or ".." in n.replace(os.sep, "/").split("/")]
    if outside:
        raise SegError(Diagnostic(f"cannot write '{outside[0]}' in the folder '{path}': it would land outside it"))
    whole = {**files, MANIFEST: _manifest_text(files, generated).encode()}  # the manifest last
    in_place = check_folder(path, inputs, force)
    target = os.path.realpath(path)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if in_place or _holds_cwd(target) or not _try_swap(target, whole, executable):
            _write_in_place(target, whole, executable, inputs)
    except OSError as err:
        raise SegError(Diagnostic(f"cannot write the folder '{path}': {err.strerror or err}")) from None
    return [os.path.join(path, name) for name in files]


def _holds_cwd(folder: str) -> bool:
    """Whether the folder is (or holds) the current folder, which a swap would leave deleted under the shell."""
    try:
        return _same_or_inside(os.path.realpath(os.getcwd()), folder)
    except OSError:
        return False


def _fill(folder: str, files: Mapping[str, bytes], executable: Collection[str]) -> None:
    for name, data in files.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        if name in executable:
            os.chmod(path, _executable(os.stat(path).st_mode & 0o7777))


_SWAP_FALLBACK = (errno.EACCES, errno.EPERM, errno.EROFS, errno.EBUSY, errno.EXDEV)


def _try_swap(target: str, files: Mapping[str, bytes], executable: Collection[str]) -> bool:
    """Build the folder beside ``target`` and swap it in; False (nothing
    changed) where the parent folder cannot take a sibling or the folder
    cannot be renamed (a mount point, say)."""
    parent, name = os.path.split(target)
    clean_leftovers(parent, name)
    try:
        temp = tempfile.mkdtemp(prefix=_temp_prefix(name), dir=parent)
    except OSError as err:
        if os.path.isdir(target) and err.errno in _SWAP_FALLBACK:
            return False
        raise
    try:
        os.chmod(temp, _new_mode(target, 0o777))
        _fill(temp, files, executable)
        if not os.path.isdir(target):
            os.rename(temp, target)
            return True
        _swap(temp, target)
    except OSError as err:
        shutil.rmtree(temp, ignore_errors=True)
        if err.errno in _SWAP_FALLBACK and os.path.isdir(target):
            return False
        raise
    shutil.rmtree(temp, ignore_errors=True)  # now the old folder
    return True


def _swap(new: str, target: str) -> None:
    """Put the folder ``new`` at ``target`` and the old one at ``new``."""
    if _exchange(new, target):
        return
    aside = new + ".old"
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(aside, target)
        raise
    os.rename(aside, new)


def _exchange(first: str, second: str) -> bool:
    """Exchange two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if function(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), second)


def _write_in_place(folder: str, files: Mapping[str, bytes], executable: Collection[str],
                    inputs: Collection[str]) -> None:
    """Replace segc's files in ``folder`` one by one (each whole), remove the
    ones segc wrote before that the output no longer has (unless changed
    since), keep everything else.  Meanwhile the manifest accepts any
    content of those files, so a killed run leaves nothing foreign."""
    old = _read_manifest(folder) if os.path.isdir(folder) else {}
    stale = [n for n in sorted(set(old) - set(files)) if _unchanged(os.path.join(folder, n), old[n])]
    manifest = os.path.join(folder, MANIFEST)
    os.makedirs(folder, exist_ok=True)
    write_atomic(manifest, _manifest_text({}, [*stale, *(n for n in files if n != MANIFEST)]))
    for name, data in ((n, d) for n, d in files.items() if n != MANIFEST):
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, data, inputs)
        if name in executable:
            os.chmod(path, _executable(os.stat(path).st_mode & 0o7777))
    for name in stale:
        os.unlink(os.path.join(folder, name))
    write_atomic(manifest, files[MANIFEST])
