"""Marker lines: a key any known_hosts file lists as `@revoked` is never accepted, for any
host, even with --accept-new-host-keys (OpenSSH's rule; the parse-once table skipped the
line, and another line listing the key made it trusted). Hashed names OpenSSH cannot
decode are skipped, not an internal error for every host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from deployer.errors import HostKeyError
from deployer.remote import ssh
from tests.unit.remote.test_connect_pacing import Front, conn_to


def test_a_revoked_key_is_never_accepted(
    tmp_path: Path, ssh_server: Callable[[paramiko.PKey], Front]
) -> None:
    key = paramiko.RSAKey.generate(2048)
    f = ssh_server(key)
    conn = conn_to(f.port, tmp_path, key)
    known = Path(conn.known_hosts[0])
    known.write_text(f"@revoked * {key.get_name()} {key.get_base64()}\n" + known.read_text())
    s = ssh.Session(conn, connect_timeout=5)
    try:
        with pytest.raises(HostKeyError):
            s.open()
    finally:
        s.close()


def test_a_malformed_hashed_line_is_skipped_not_an_internal_error(tmp_path: Path) -> None:
    """OpenSSH skips a hashed name it cannot decode; fill() hashes the looked-up name with
    each hashed entry's salt outside its error handling: binascii.Error (bad base64) or
    AssertionError (a salt not 20 bytes) for every host, reported as 'internal error'."""
    from deployer.remote import knownhosts

    key = paramiko.RSAKey.generate(1024)
    for bad in ("|1|abc|def", "|1|YWJj|ZGVm"):
        known = tmp_path / "known_hosts"
        known.write_text(
            f"{bad} {key.get_name()} {key.get_base64()}\n"
            f"10.0.0.1 {key.get_name()} {key.get_base64()}\n"
        )
        table = paramiko.HostKeys()
        knownhosts.fill(table, [known], "10.0.0.1", "h")
        assert table.lookup("10.0.0.1") is not None
