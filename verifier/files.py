"""Files at the boundary: what an input path is, where an output may go, and how it is written.

* :func:`check_input_file` names what a path is when it is not a readable regular file
  (missing, a directory, a FIFO, a device, a socket, a symlink loop, a broken symlink,
  unreadable), without ever opening it: opening a FIFO for reading would block.
* :func:`check_output_file` is the one policy for output paths, applied before any work:
  the folder that holds the file must exist and be writable (a missing folder is refused,
  never created), and the path must not be a folder.
* :func:`output_path` / :func:`write_text_atomic`: every output is written under a
  temporary name in its own folder and renamed over the target only when complete, so a
  failed or interrupted command leaves no partial or empty file behind.
* :func:`read_capped`: reads a (decompressing) stream chunk by chunk and refuses it once
  it passes a size cap, so a compression bomb is refused with bounded memory.

All errors are :class:`~verifier.errors.InputFileError` (exit code 3) with one line that
names the path and what it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat

from verifier.errors import InputFileError

__all__ = ["check_input_file", "check_output_file", "output_path", "write_text_atomic",
           "read_capped", "READ_CHUNK_BYTES"]

#: bytes read at a time by :func:`read_capped`
READ_CHUNK_BYTES = 1 << 20

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str | None:
    """``"a directory"``, ``"a FIFO (named pipe)"``, ... for a mode that is not a regular
    file's, else None."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def _stat_problem(path: str, exc: OSError, what: str) -> str:
    """The one-line description of why ``os.stat(path)`` failed."""
    if exc.errno == errno.ENOENT:
        if os.path.islink(path):
            return f"{path}: a broken symlink (its target {os.readlink(path)!r} does not exist)"
        return f"{path}: no such {what}"
    if exc.errno == errno.ELOOP:
        return f"{path}: a symlink loop (the links point at each other), not a {what}"
    if exc.errno == errno.ENOTDIR:
        return f"{path}: no such {what} (a part of the path is a file, not a folder)"
    if exc.errno == errno.EACCES:
        return f"{path}: cannot be reached (permission denied on a folder of the path)"
    return f"{path}: cannot read the {what} ({exc.strerror or exc})"


def check_input_file(path, what: str = "file") -> int:
    """Raise :class:`InputFileError` unless ``path`` is a readable regular file.

    The path is only ``stat``-ed, never opened.

    Args:
        path: the file.
        what: what the file should be, for the message (``"network file"``).

    Returns:
        the file's size in bytes.

    Raises:
        InputFileError: naming what the path is instead (missing, directory, FIFO,
            character or block device, socket, symlink loop, broken symlink, unreadable).
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputFileError(_stat_problem(path, exc, what)) from None
    kind = special_kind(info.st_mode)
    if kind is not None:
        hint = " (hint: give the file inside it)" if kind == "a directory" else ""
        raise InputFileError(f"{path}: is {kind}, not a {what}{hint}")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{path}: unreadable {what} (permission denied)")
    return info.st_size


def check_output_file(path, option: str) -> None:
    """The output policy, checked before any work: the folder holding ``path`` exists and
    is writable, and ``path`` is not a folder. Missing folders are refused, never created.

    Args:
        path: the output file.
        option: the option that named it (``"--json"``), for the message.

    Raises:
        InputFileError: naming the option, the path and what is wrong, with a hint.
    """
    path = os.fspath(path)
    if not path.strip():
        raise InputFileError(f"{option}: an empty file name")
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise InputFileError(f"{option} {path}: is a directory (give a file name inside it)")
    if info is not None and not stat.S_ISREG(info.st_mode):
        return          # a device or FIFO the user named: written in place at the end
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise InputFileError(f"{option} {path}: the folder {folder} {what} (create it "
                             "first: outputs never create folders)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputFileError(f"{option} {path}: the folder {folder} is not writable")


def _temporary_name(target: str) -> str:
    """A fresh name in ``target``'s folder that keeps its extension (matplotlib and HiGHS
    choose the format by it)."""
    folder, name = os.path.split(target)
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem else ""
    return os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp{suffix}")


@contextlib.contextmanager
def output_path(path):
    """Yield a temporary path next to ``path`` to write the output to; when the block
    ends without an error the temporary file replaces ``path`` (``os.replace``), else it
    is removed. The temporary file is created (empty, mode 0666 minus the umask) before
    the block runs.

    A symlink is followed (its target is replaced); a device or FIFO is written in place.

    Raises:
        InputFileError: the temporary file cannot be created or renamed.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        yield path          # /dev/stdout, a FIFO: no temporary file, no rename
        return
    target = os.path.realpath(path)
    for _ in range(100):
        temp = _temporary_name(target)
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield temp
        os.replace(temp, target)
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`output_path`.

    Raises:
        InputFileError: the file cannot be written.
    """
    with output_path(path) as temp:
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_capped(stream, cap: int, path, what: str) -> bytes:
    """All bytes of an open (possibly decompressing) binary stream, read chunk by chunk.

    Raises:
        InputFileError: once more than ``cap`` bytes came out, before reading further.
    """
    chunks, total = [], 0
    while chunk := stream.read(min(READ_CHUNK_BYTES, cap + 1 - total)):
        total += len(chunk)
        if total > cap:
            raise InputFileError(f"{os.fspath(path)}: larger than {format_size(cap)} "
                                 f"(decompressed); not a {what} this tool reads")
        chunks.append(chunk)
    return b"".join(chunks)


def format_size(size: int) -> str:
    """``2 GiB``, ``256 MiB``, ``1000 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


#: the largest array file read (an ``.npz`` counts its members' uncompressed sizes)
MAX_ARRAY_BYTES = 2 << 30


def load_npy(path, what: str = "array file"):
    """The array of an ``.npy`` file, read through a memory map first so that a header
    that promises more data than the file holds is refused before anything is allocated.

    Raises:
        InputFileError: not a regular readable file, larger than ``MAX_ARRAY_BYTES``, or
            not an ``.npy`` array (pickled objects are refused).
    """
    import numpy as np
    size = check_input_file(path, what)
    if size > MAX_ARRAY_BYTES:
        raise InputFileError(f"{path}: larger than {format_size(MAX_ARRAY_BYTES)}; not "
                             f"an {what} this tool reads")
    try:
        return np.array(np.load(os.fspath(path), mmap_mode="r", allow_pickle=False))
    except Exception as exc:  # a bad header, pickled objects, data shorter than promised
        raise InputFileError(f"cannot read {path}: {' '.join(str(exc).split())}") from None


def load_npz(path, names: tuple[str, ...], what: str = "array file") -> dict:
    """The arrays ``names`` of an ``.npz`` file; refused before decompressing when the
    members' declared sizes add up to more than ``MAX_ARRAY_BYTES``.

    Raises:
        InputFileError: not a regular readable file, not an ``.npz`` holding ``names``, or
            too large.
    """
    import numpy as np
    check_input_file(path, what)
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            declared = sum(info.file_size for info in data.zip.infolist())
            if declared > MAX_ARRAY_BYTES:
                raise InputFileError(f"{path}: larger than {format_size(MAX_ARRAY_BYTES)} "
                                     f"(decompressed); not an {what} this tool reads")
            return {name: data[name] for name in names}
    except InputFileError:
        raise
    except Exception as exc:  # not a zip, a member missing, BadZipFile, a bad CRC, ...
        text = " ".join(str(exc).split())
        raise InputFileError(f"{path}: not an .npz with arrays {', '.join(names)} "
                             f"({text})") from None
