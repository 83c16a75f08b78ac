"""Reading a user's file, bounded: a regular file only (a FIFO would hang; a device or a
directory might never end), at most `MAX_BYTES`, UTF-8 text (a BOM is dropped), never
binary. Every refusal is a problem at the file (and the line of a bad byte), never an
exception.
"""

from __future__ import annotations

import os
import stat

from deployer.source.problems import Mark, Problems

MAX_BYTES = 8 * 1024 * 1024


def read_text(path: str, problems: Problems, what: str = "file") -> str | None:
    """Read a UTF-8 text file within MAX_BYTES; problems instead of exceptions."""
    try:
        # Non-blocking, so that opening a FIFO does not wait for a writer; then only a
        # regular file is read (a FIFO, a device or a directory could hang or never end).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                kind = "a directory" if stat.S_ISDIR(info.st_mode) else _kind(info.st_mode)
                problems.add(path, None, (), f"{what} is {kind}, not a regular file")
                return None
            if info.st_size > MAX_BYTES:
                problems.add(
                    path, None, (), f"{what} is too large ({info.st_size} bytes; limit {MAX_BYTES})"
                )
                return None
            raw = fh.read(MAX_BYTES + 1)
    except OSError as err:
        problems.add(path, None, (), f"cannot read {what}: {err.strerror or err}")
        return None
    return decode_text(raw, path, problems, what)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a file"


def decode_text(raw: bytes, path: str, problems: Problems, what: str = "file") -> str | None:
    if len(raw) > MAX_BYTES:
        problems.add(path, None, (), f"{what} is too large (limit {MAX_BYTES} bytes)")
        return None
    nul = raw.find(b"\0")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        problems.add(path, Mark(line, 1), (), f"{what} looks binary (NUL byte at offset {nul})")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        bad = raw[err.start : err.start + 1].hex()
        problems.add(path, Mark(line, col), (), f"{what} is not UTF-8 text (byte 0x{bad})")
        return None
