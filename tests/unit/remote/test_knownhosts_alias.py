"""A host reached through an ~/.ssh/config alias: paramiko looks its key up by fabric's
resolved host (HostName), so the table is filled for that name. Filled for the inventory's
name instead (an adversarial review found it), a known key was refused as unknown, and
with --accept-new-host-keys a CHANGED key was accepted and recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from deployer.errors import HostKeyError
from deployer.remote import ssh
from tests.unit.remote.test_connect_pacing import Front, conn_to


def _alias_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host webalias\n    HostName 127.0.0.1\n")
    monkeypatch.setenv("HOME", str(home))


def test_changed_key_of_aliased_host_is_refused_even_with_accept_new(
    tmp_path: Path, ssh_server: Callable[[paramiko.PKey], Front], monkeypatch: pytest.MonkeyPatch
) -> None:
    _alias_home(tmp_path, monkeypatch)
    real = paramiko.RSAKey.generate(2048)
    f = ssh_server(real)
    recorded = paramiko.RSAKey.generate(2048)  # what known_hosts trusts for this server
    conn = replace(conn_to(f.port, tmp_path, recorded), address="webalias")
    known = Path(conn.known_hosts[0])
    before = known.read_text()
    s = ssh.Session(conn, accept_new_host_keys=True, connect_timeout=5)
    try:
        with pytest.raises(HostKeyError, match="CHANGED"):
            s.open()
    finally:
        s.close()
    assert known.read_text() == before, "a changed key was recorded as new"


def test_known_key_of_aliased_host_is_accepted(
    tmp_path: Path, ssh_server: Callable[[paramiko.PKey], Front], monkeypatch: pytest.MonkeyPatch
) -> None:
    _alias_home(tmp_path, monkeypatch)
    key = paramiko.RSAKey.generate(2048)
    f = ssh_server(key)
    conn = replace(conn_to(f.port, tmp_path, key), address="webalias")
    s = ssh.Session(conn, connect_timeout=5)
    try:
        s.open()
        assert s.transport.is_authenticated()
    finally:
        s.close()
