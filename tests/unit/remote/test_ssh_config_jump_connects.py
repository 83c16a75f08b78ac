"""A host whose jump host comes from ~/.ssh/config (ProxyJump) is reached through ONE
connection to the jump host: deployer's own, paced, its host key checked against the
inventory's known_hosts, logged in with the inventory's password.

Before, fabric read the same ProxyJump itself and opened a second connection to the jump
host for the target (its own client: host keys auto-added, no password), which replaced
deployer's: a jump host that takes a password could not be used from ~/.ssh/config."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from deployer.errors import Unreachable
from deployer.model import HostConn
from deployer.remote import ssh, sshconfig
from tests.unit.remote.test_connect_pacing import Front, behind, conn_to, serve_jump, serve_ssh
from tests.unit.remote.test_connect_pacing import host_key as host_key  # the fixture


def _ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """A home of its own whose ~/.ssh/config says TEXT, the only ssh config read (no
    /etc/ssh/ssh_config); the home."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    config = home / ".ssh" / "config"
    config.write_text(text)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(sshconfig, "SSH_CONFIG", str(config))
    monkeypatch.setattr(sshconfig, "SYSTEM_SSH_CONFIG", str(tmp_path / "none"))
    return home


def _behind_localhost(
    jump: Front, target: Front, tmp_path: Path, key: paramiko.PKey, address: str = "127.0.0.1"
) -> HostConn:
    """A host at ADDRESS whose jump host only ~/.ssh/config names, as localhost (both
    listen on 127.0.0.1): its key known under that name too."""
    conn = replace(behind(jump, target.port, tmp_path, key), jump=None, address=address)
    known = Path(conn.known_hosts[0])
    line = f"[localhost]:{jump.port} {key.get_name()} {key.get_base64()}\n"
    known.write_text(known.read_text() + line)
    return conn


def test_a_jump_host_from_ssh_config_is_used_once_with_the_inventorys_login(
    tmp_path: Path, host_key: paramiko.PKey, front: list[Front], monkeypatch: pytest.MonkeyPatch
) -> None:
    serve = serve_ssh(host_key)
    target = Front(lambda index, sock: serve(sock))
    jump = Front(serve_jump(host_key, target.port))
    front += [target, jump]
    _ssh_config(tmp_path, monkeypatch, f"Host 127.0.0.1\n    ProxyJump me@localhost:{jump.port}\n")
    conn = _behind_localhost(jump, target, tmp_path, host_key)
    session = ssh.Session(conn, connect_timeout=5)
    try:
        assert session.jump == f"me@localhost:{jump.port}"
        session.open()
        assert session.transport.is_authenticated()
    finally:
        session.close()
    assert (jump.accepted, target.accepted) == (1, 1)
    assert session.connections == 2


RELAY = """
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def up():
    while data := sys.stdin.buffer.read1(65536):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while data := s.recv(65536):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""


def test_an_alias_with_a_proxy_command_and_keys_from_ssh_config(
    tmp_path: Path, host_key: paramiko.PKey, front: list[Front], monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.ssh/config's HostName, ProxyCommand (%h %p filled) and IdentityFile apply to the
    host the inventory names by that alias; its host key is looked up by the real address."""
    serve = serve_ssh(host_key)
    target = Front(lambda index, sock: serve(sock))
    front.append(target)
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    home = _ssh_config(
        tmp_path,
        monkeypatch,
        "Host viaproxy\n    HostName 127.0.0.1\n"
        f"    ProxyCommand {sys.executable} {relay} %h %p\n"
        "    IdentityFile ~/.ssh/extra_key\n    IdentityFile ~/.ssh/missing_key\n",
    )
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    (home / ".ssh" / "extra_key").write_bytes(key)  # the server takes passwords only
    conn = replace(conn_to(target.port, tmp_path, host_key), address="viaproxy")
    session = ssh.Session(conn, connect_timeout=5)
    link = session._dial.make(conn.address, conn.port, conn.user)  # noqa: SLF001
    assert link.host == "127.0.0.1" and link.proxy is not None
    assert link.proxy.endswith(f"relay.py 127.0.0.1 {target.port}")
    assert link.kwargs["key_filename"] == [str(home / ".ssh" / "extra_key")]
    try:
        session.open()
        assert session.transport.is_authenticated()
    finally:
        session.close()
    assert target.accepted == 1


def test_an_alias_behind_a_jump_host_is_asked_for_by_its_real_address(
    tmp_path: Path, host_key: paramiko.PKey, front: list[Front], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Host web1 / HostName 10.0.0.5 / ProxyJump bastion`: the jump host is asked for
    10.0.0.5, as `ssh -J` asks it (an adversarial review found web1 asked for, which the
    jump host cannot resolve)."""
    serve = serve_ssh(host_key)
    target = Front(lambda index, sock: serve(sock))
    jump = Front(serve_jump(host_key, target.port))
    front += [target, jump]
    _ssh_config(
        tmp_path,
        monkeypatch,
        f"Host web1\n    HostName 127.0.0.1\n    ProxyJump me@localhost:{jump.port}\n",
    )
    asked: list[tuple[str, int]] = []
    opened = paramiko.Transport.open_channel

    def spy(self: paramiko.Transport, kind: str, dest_addr: Any = None, *a: Any, **k: Any) -> Any:
        if kind == "direct-tcpip":
            asked.append(dest_addr)
        return opened(self, kind, dest_addr, *a, **k)

    monkeypatch.setattr(paramiko.Transport, "open_channel", spy)
    conn = _behind_localhost(jump, target, tmp_path, host_key, address="web1")
    session = ssh.Session(conn, connect_timeout=5)
    try:
        session.open()
        assert session.transport.is_authenticated()
    finally:
        session.close()
    assert asked == [("127.0.0.1", target.port)]


def test_a_jump_host_with_a_jump_host_of_its_own_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _ssh_config(
        tmp_path,
        monkeypatch,
        "Host web1\n    ProxyJump gw1\nHost gw1\n    ProxyJump gw2\n"
        "Host *\n    ProxyJump gw1\n",  # gw1 itself through gw1: one hop, as ssh takes it
    )
    session = ssh.Session(HostConn("web1", "web1"), connect_timeout=1)
    with pytest.raises(Unreachable, match=r"the jump host gw1 has a jump host of its own.*gw2"):
        session.open()
    (home / ".ssh" / "config").write_text("Host *\n    ProxyJump gw9\n")
    found = sshconfig.lookup("gw9")
    session._dial._one_hop("gw9", "gw9", found)  # noqa: SLF001 - `Host *` matches the jump host itself
