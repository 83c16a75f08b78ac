"""deployer_ssh_password_env: the SSH password comes from the controller's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import ConfigError
from deployer.inventory import load_inventory


def _inv(tmp_path: Path, var: str) -> str:
    p = tmp_path / "inv.yml"
    p.write_text(f"all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n      {var}\n")
    return str(p)


def test_password_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H1_PASS", "pa ss'word")
    conn = load_inventory([_inv(tmp_path, "deployer_ssh_password_env: H1_PASS")]).host_conn("h1")
    assert conn.password is not None and conn.password.reveal() == "pa ss'word"
    assert conn.password.source == "env:H1_PASS"
    assert "pa ss" not in repr(conn)


def test_missing_env_is_an_error_with_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_PASS", raising=False)
    path = _inv(tmp_path, "deployer_ssh_password_env: NOPE_PASS")
    with pytest.raises(ConfigError) as err:
        load_inventory([path]).host_conn("h1")
    msg = str(err.value)
    assert (
        f"{path}:5:" in msg and "deployer_ssh_password_env" in msg and "NOPE_PASS is not set" in msg
    )


def test_inline_password_is_masked(tmp_path: Path) -> None:
    conn = load_inventory([_inv(tmp_path, "ansible_password: hunter2")]).host_conn("h1")
    assert conn.password is not None and conn.password.reveal() == "hunter2"
    assert "hunter2" not in repr(conn) and "hunter2" not in repr(conn.vars)


def test_password_never_reaches_a_template(tmp_path: Path) -> None:
    from deployer.config import load_playbook

    inv = load_inventory([_inv(tmp_path, "ansible_password: S3cretPW")])
    pb = tmp_path / "pb.yml"
    pb.write_text(
        "- hosts: h1\n  containers:\n    - name: web\n      image: nginx\n"
        '      env: {P: "{{ ansible_password }}"}\n'
    )
    with pytest.raises(ConfigError) as err:
        load_playbook(str(pb), inv)
    assert f"{pb}:5:" in str(err.value) and "undefined variable 'ansible_password'" in str(
        err.value
    )
    assert "S3cretPW" not in str(err.value)


def test_hosts_host_masks_the_password(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployer",
            "hosts",
            "-i",
            _inv(tmp_path, "ansible_password: S3cretPW"),
            "--host",
            "h1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["ansible_password"] == "***" and "S3cretPW" not in out
