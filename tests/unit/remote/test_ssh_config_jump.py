from __future__ import annotations

from pathlib import Path

import pytest

from deployer.model import HostConn
from deployer.remote import sshconfig
from deployer.remote.ssh import Session


def test_jump_from_ssh_config_when_the_inventory_sets_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host 10.1.*\n  ProxyJump admin@gw:2022\n")
    monkeypatch.setattr(sshconfig, "SSH_CONFIG", str(cfg))
    assert Session(HostConn("p", "10.1.2.3")).jump == "admin@gw:2022"
    assert Session(HostConn("q", "q.example")).jump is None
    assert Session(HostConn("r", "10.1.2.3", jump="me@other")).jump == "me@other"  # inventory wins


def test_no_or_unreadable_ssh_config_is_no_jump(tmp_path: Path) -> None:
    assert sshconfig.ssh_config_jump("10.1.2.3", str(tmp_path / "none")) is None
    bad = tmp_path / "bad"
    bad.write_text("Host *\n  ProxyJump none\n")
    assert sshconfig.ssh_config_jump("10.1.2.3", str(bad)) is None
