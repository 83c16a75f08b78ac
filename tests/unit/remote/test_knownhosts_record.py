"""--accept-new-host-keys records each new key as a line of its own, and the parsed copy of
the file follows what it wrote: a first contact with N hosts parses the file once, not N
times (it was parsed again after every key: quadratic in the hosts)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from deployer.remote import knownhosts


@pytest.fixture
def key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def _names(table: paramiko.HostKeys) -> list[str]:
    return list(table.keys())


def test_recorded_keys_are_found_without_parsing_the_file_again(
    tmp_path: Path, key: paramiko.PKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("# the lab's\n")
    parses = []
    real = knownhosts._parse
    monkeypatch.setattr(knownhosts, "_parse", lambda p: parses.append(p) or real(p))
    for i in range(50):
        name = f"[10.0.0.{i}]:22"
        table = paramiko.HostKeys()
        knownhosts.fill(table, [path], name, "h")  # unknown: nothing in the table
        assert _names(table) == []
        knownhosts.record(path, name, key)
        knownhosts.fill(table, [path], name, "h")  # found at once, from the same parse
        assert _names(table) == [name]
    assert len(parses) == 1
    # what is on disk reads the same when parsed afresh
    knownhosts._cache.clear()
    fresh = knownhosts.parsed(path)
    assert sorted(fresh.plain) == sorted(f"[10.0.0.{i}]:22" for i in range(50))
    assert fresh.lines == 51


def test_a_file_without_a_final_newline_keeps_its_last_line(
    tmp_path: Path, key: paramiko.PKey
) -> None:
    other = paramiko.RSAKey.generate(1024)
    path = tmp_path / "known_hosts"
    path.write_text(f"old.example {other.get_name()} {other.get_base64()}")  # no newline
    knownhosts.parsed(path)
    knownhosts.record(path, "new.example", key)
    lines = path.read_text().splitlines()
    assert lines == [
        f"old.example {other.get_name()} {other.get_base64()}",
        f"new.example {key.get_name()} {key.get_base64()}",
    ]
    for name in ("old.example", "new.example"):  # both found (the copy was parsed again)
        table = paramiko.HostKeys()
        knownhosts.fill(table, [path], name, "h")
        assert _names(table) == [name]


def test_a_line_someone_else_wrote_meanwhile_is_not_missed(
    tmp_path: Path, key: paramiko.PKey
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("\n")
    knownhosts.parsed(path)
    other = paramiko.RSAKey.generate(1024)
    with open(path, "a") as f:  # another process, between our parse and our record
        f.write(f"their.example {other.get_name()} {other.get_base64()}\n")
    knownhosts.record(path, "ours.example", key)
    for name in ("their.example", "ours.example"):
        table = paramiko.HostKeys()
        knownhosts.fill(table, [path], name, "h")
        assert _names(table) == [name]
