"""Host keys for one connection: the known_hosts files parsed once per run, not per host.

paramiko's `HostKeys.load` checks every line against every line read before it, and a
each connection's `SSHClient` starts with a table of its own: loading the inventory's file for each
of N hosts parsed N lines N times, each line under logging's global lock (paramiko asks
for its logger per line). At 100 hosts that was four fifths of the controller's work in a
no-op; at 1,000 it would be hours. Here each file is parsed once (again only when it
changes: path, inode, size and mtime), indexed by host name, and each connection gets a
table holding just the entries of the name paramiko will look up, in file order, so it
verifies exactly as before: the first entry of a key type for that name is the one the
server's key must match; hashed names (`|1|salt|hash`) are matched by their HMAC.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from deployer.errors import HostKeyError, Unreachable
from deployer.model import HostConn


@dataclass
class _Parsed:
    """One known_hosts file: entries by plain host name, the hashed ones, in order, and the
    keys of its `@revoked` lines."""

    plain: dict[str, list[tuple[int, paramiko.PKey]]] = field(default_factory=dict)
    hashed: list[tuple[int, str, paramiko.PKey]] = field(default_factory=list)
    revoked: set[tuple[str, str]] = field(default_factory=set)  # (key type, base64)
    lines: int = 0  # the file's line count (a recorded key is the next line)


def _salt_ok(name: str) -> bool:
    """`|1|salt|hash` with a salt of 20 bytes, as OpenSSH writes them (others are skipped)."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] or parts[1] != "1":
        return False
    try:
        return len(base64.b64decode(parts[2], validate=True)) == 20
    except (binascii.Error, ValueError):
        return False


_cache: dict[tuple[str, int, int, int, int], _Parsed] = {}
_lock = threading.Lock()


def _parse(path: Path) -> _Parsed:
    out = _Parsed()
    lineno = 0
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@revoked"):  # never accepted, for any host (fail closed)
                fields = line.split()
                if len(fields) >= 4:
                    out.revoked.add((fields[2], fields[3]))
                continue
            if line.startswith("@"):  # @cert-authority: paramiko has no host certificates
                continue
            try:
                entry = HostKeyEntry.from_line(line, lineno)
            except (paramiko.SSHException, InvalidHostKey):
                continue  # as OpenSSH: a line it cannot read is skipped
            if entry is None or entry.key is None:
                continue
            for name in entry.hostnames:
                if name.startswith("|"):
                    if _salt_ok(name):
                        out.hashed.append((lineno, name, entry.key))
                else:
                    out.plain.setdefault(name, []).append((lineno, entry.key))
    out.lines = lineno
    return out


def _version(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def parsed(path: Path) -> _Parsed:
    """The file's entries, parsed at most once per version of the file in this process."""
    key = _version(path)
    with _lock:  # the first host parses; the others of the run wait for it, then share it
        hit = _cache.get(key)
        if hit is None:
            for old in [k for k in _cache if k[0] == key[0]]:
                del _cache[old]
            hit = _cache[key] = _parse(path)
        return hit


def lookup_name(host: str, port: int) -> str:
    """The name paramiko's SSHClient looks the server's key up by."""
    return host if port == 22 else f"[{host}]:{port}"


def fill(
    table: paramiko.HostKeys, files: list[Path], name: str, label: str
) -> set[tuple[str, str]]:
    """Put into `table` the entries of `name` from `files` (in order; missing files are
    skipped): per key type, the first one found, as paramiko's merged table answers; a key
    any file lists as `@revoked` is left out. Returns the revoked keys (for the policy)."""
    table.clear()
    every: list[_Parsed] = []
    for f in files:
        if not f.exists():
            continue
        try:
            every.append(parsed(f))
        except (OSError, paramiko.SSHException, ValueError) as err:
            raise Unreachable(f"{label}: cannot read known_hosts file {f}: {err}") from err
    revoked = {k for entries in every for k in entries.revoked}
    seen: set[str] = set()
    for entries in every:
        found = list(entries.plain.get(name, []))
        found += [
            (n, k)
            for n, h, k in entries.hashed
            if paramiko.HostKeys.hash_host(name, h) == h  # noqa: S324 - OpenSSH's format
        ]
        for _, key in sorted(found, key=lambda item: item[0]):
            if (key.get_name(), key.get_base64()) in revoked:
                continue  # left out: the policy refuses it as revoked
            if key.get_name() not in seen:
                seen.add(key.get_name())
                table.add(name, key.get_name(), key)
    return revoked


def files_for(conn: HostConn) -> tuple[list[Path], Path | None]:
    """The inventory's known_hosts files, then ~/.ssh/known_hosts; and where a key accepted
    with --accept-new-host-keys is recorded (the inventory's first file, else the user's)."""
    files = [Path(p) for p in conn.known_hosts]
    files.append(Path("~/.ssh/known_hosts").expanduser())
    record = files[0] if conn.known_hosts else None
    return files, record


class Policy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown keys, or accept and record them (--accept-new-host-keys)."""

    def __init__(
        self,
        accept_new: bool,
        record_to: Path | None,
        label: str,
        revoked: set[tuple[str, str]] | None = None,
    ):
        self.accept_new = accept_new
        self.record_to = record_to
        self.label = label
        self.revoked = revoked or set()

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fp = key.fingerprint if hasattr(key, "fingerprint") else key.get_name()
        if (key.get_name(), key.get_base64()) in self.revoked:  # before any authentication
            raise HostKeyError(
                f"{self.label}: the host key of {hostname} ({key.get_name()} {fp}) is marked "
                "@revoked in known_hosts: refused"
            )
        if not self.accept_new:
            where = self.record_to or Path("~/.ssh/known_hosts").expanduser()
            raise HostKeyError(
                f"{self.label}: unknown host key for {hostname} ({key.get_name()} {fp}). "
                f"Check it, then trust it with: ssh-keyscan -p PORT {hostname.strip('[]').split(']:')[0]} "
                f">> {where}   (or rerun with --accept-new-host-keys)"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        record(self.record_to or Path("~/.ssh/known_hosts").expanduser(), hostname, key)


def record(path: Path, hostname: str, key: paramiko.PKey) -> None:
    """Append an accepted key as its own line (after a newline the file may lack), and let
    the parsed copy of the file follow: the next host's lookup finds it without parsing
    the file again (1,000 first contacts would parse it 1,000 times)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        before = _version(path) if path.exists() else None
        with open(path, "a+b") as f:
            f.seek(0, 2)
            lead = b""
            if f.tell():
                f.seek(-1, 2)
                lead = b"" if f.read(1) == b"\n" else b"\n"
            line = lead + f"{hostname} {key.get_name()} {key.get_base64()}\n".encode()
            f.write(line)
        if before is None:
            return
        hit, after = _cache.pop(before, None), _version(path)
        if hit is not None and not lead and after[3] - before[3] == len(line):
            hit.lines += 1  # only our line was added: the parsed copy follows it
            hit.plain.setdefault(hostname, []).append((hit.lines, key))
            _cache[after] = hit
