"""Host keys: each known_hosts file parsed once per run (not once per host), and the
verification exactly as paramiko's own merged table gives it: plain and hashed names,
ports, the first key of a type winning, changed and unknown keys refused.

Real keys and a real SSH server (paramiko's server side) on 127.0.0.1; no mocks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from deployer.errors import HostKeyError
from deployer.remote import knownhosts, ssh
from tests.unit.remote.test_connect_pacing import Front, conn_to


@pytest.fixture(scope="module")
def keys() -> tuple[paramiko.PKey, paramiko.PKey]:
    return paramiko.Ed25519Key.from_private_key_file(_keyfile()), paramiko.RSAKey.generate(1024)


def _keyfile() -> str:
    import subprocess
    import tempfile

    d = tempfile.mkdtemp()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/k"], check=True)
    return f"{d}/k"


def table_for(files: list[Path], host: str, port: int) -> paramiko.HostKeys:
    t = paramiko.HostKeys()
    knownhosts.fill(t, files, knownhosts.lookup_name(host, port), "h")
    return t


def paramiko_table(files: list[Path]) -> paramiko.HostKeys:
    t = paramiko.HostKeys()
    for f in files:
        t.load(str(f))
    return t


def test_a_file_is_parsed_once_for_many_hosts_and_again_when_it_changes(
    tmp_path: Path, keys: tuple[paramiko.PKey, paramiko.PKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    ed, _ = keys
    known = tmp_path / "known_hosts"
    known.write_text(
        "".join(
            f"10.0.{i // 250}.{i % 250} {ed.get_name()} {ed.get_base64()}\n" for i in range(500)
        )
    )
    calls: list[Path] = []
    real = knownhosts._parse

    def counting(path: Path) -> knownhosts._Parsed:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(knownhosts, "_parse", counting)
    threads = [
        threading.Thread(target=table_for, args=([known], f"10.0.0.{i}", 22)) for i in range(50)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [known]
    table = table_for([known], "10.0.1.7", 22)
    assert table.lookup("10.0.1.7") is not None and len(table._entries) == 1
    time.sleep(0.01)
    with open(known, "a") as f:
        f.write(f"10.9.9.9 {ed.get_name()} {ed.get_base64()}\n")
    assert table_for([known], "10.9.9.9", 22).lookup("10.9.9.9") is not None
    assert calls == [known, known]


def test_the_table_answers_as_paramikos_merged_one(
    tmp_path: Path, keys: tuple[paramiko.PKey, paramiko.PKey]
) -> None:
    ed, rsa = keys
    other = paramiko.Ed25519Key.from_private_key_file(_keyfile())
    hashed = paramiko.HostKeys.hash_host("[10.1.1.1]:2222")
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.write_text(
        "# a comment\n\n"
        f"{hashed} {ed.get_name()} {ed.get_base64()}\n"
        f"10.1.1.2,web2 {rsa.get_name()} {rsa.get_base64()}\n"
        "10.1.1.3 ssh-ed25519 not-base64!!\n"
        f"10.1.1.3 {ed.get_name()} {ed.get_base64()}\n"
    )
    b.write_text(
        f"10.1.1.3 {other.get_name()} {other.get_base64()}\n"  # a second line: the first wins
        f"[10.1.1.1]:2222 {other.get_name()} {other.get_base64()}\n"
        f"web2 {ed.get_name()} {ed.get_base64()}\n"
    )
    files = [a, b, tmp_path / "missing"]
    clean = tmp_path / "a-clean"  # paramiko's own loader stops at the bad line; OpenSSH skips it
    clean.write_text("".join(x for x in a.read_text().splitlines(True) if "!!" not in x))
    theirs = paramiko_table([clean, b])
    for host, port in [
        ("10.1.1.1", 2222),
        ("10.1.1.1", 22),
        ("10.1.1.2", 22),
        ("web2", 22),
        ("10.1.1.3", 22),
        ("nowhere", 22),
    ]:
        name = knownhosts.lookup_name(host, port)
        mine = table_for(files, host, port).lookup(name)
        ref = theirs.lookup(name)
        assert (mine is None) == (ref is None), name
        if ref is not None:
            assert mine is not None
            assert sorted(mine.keys()) == sorted(set(ref.keys())), name
            for kt in ref.keys():
                assert mine[kt] == ref[kt], (name, kt)


def test_a_real_connection_is_verified_by_the_shared_table(
    tmp_path: Path, ssh_server: Callable[[paramiko.PKey], Front]
) -> None:
    key = paramiko.RSAKey.generate(2048)
    f = ssh_server(key)
    conn = conn_to(f.port, tmp_path, key)
    known = Path(conn.known_hosts[0])  # a line OpenSSH skips (paramiko's loader raised on it)
    known.write_text("10.1.1.3 ssh-ed25519 not-base64!!\n" + known.read_text())
    good = ssh.Session(conn, connect_timeout=5)
    try:
        good.open()
        assert good.transport.is_authenticated()
    finally:
        good.close()
    wrong = paramiko.RSAKey.generate(2048)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    with pytest.raises(HostKeyError, match="CHANGED|changed"):
        ssh.Session(conn_to(f.port, bad_dir, wrong), connect_timeout=5).open()
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    conn = conn_to(f.port, empty_dir, key)
    Path(conn.known_hosts[0]).write_text("")
    with pytest.raises(HostKeyError, match="unknown host key"):
        ssh.Session(conn, connect_timeout=5).open()
