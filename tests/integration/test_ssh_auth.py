"""Authentication paths of the SSH executor against the lab's real sshd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab


def _inventory_without_key(lab, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(Path(lab.inventory).read_text())
    del doc["all"]["vars"]["ansible_ssh_private_key_file"]
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _lock_status(inv: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployer", "lock", "status", "-i", str(inv), "--limit", "web"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_ssh_agent_is_used_when_no_key_file_is_given(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = _inventory_without_key(lab, tmp_path)
    home = tmp_path / "home"  # no ~/.ssh keys to fall back on
    home.mkdir()
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.1"])
        base = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        base["HOME"] = str(home)
        # Without the agent: no key at all, so authentication fails (host unreachable, exit 4).
        without = _lock_status(inv, base)
        assert without.returncode == 4, without
        assert "authentication failed" in without.stdout + without.stderr
        env = {**base, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(
            ["ssh-add", "-q", str(lab.dir / "id_ed25519")], env=env, check=True, capture_output=True
        )
        with_agent = _lock_status(inv, env)
        assert with_agent.returncode == 0, with_agent
        assert with_agent.stdout.count(": free") == len(lab.web_hosts()), with_agent.stdout
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def _password_inventory(lab, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(Path(lab.inventory).read_text())
    lab_vars = doc["all"]["vars"]
    del lab_vars["ansible_ssh_private_key_file"]
    lab_vars["ansible_user"] = lab_vars["lab_ssh_password_user"]
    lab_vars["deployer_ssh_password_env"] = "LAB_SSH_PASSWORD"
    path = tmp_path / "inv-password.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_password_from_the_environment_logs_in_and_deploys(clean_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab = clean_lab
    inv = _password_inventory(lab, tmp_path)
    password = (lab.dir / "ssh-password").read_text().strip()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"))
    playbook = Path(__file__).parent / "playbooks" / "web.yml"
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployer",
            "deploy",
            str(playbook),
            "-i",
            str(inv),
            "--limit",
            "h1",
            "--no-summary",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "LAB_SSH_PASSWORD": "not-the-password"},
    )
    assert wrong.returncode == 4, wrong
    assert "authentication failed as labpw" in wrong.stdout + wrong.stderr
    assert lab.docker("h1", "ps", "-aq").stdout.strip() == ""
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployer",
            "deploy",
            str(playbook),
            "-i",
            str(inv),
            "--limit",
            "h1",
            "--no-summary",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "LAB_SSH_PASSWORD": password},
    )
    assert ok.returncode == 0, ok
    assert password not in ok.stdout + ok.stderr
    assert lab.docker("h1", "ps", "--format", "{{.Names}}").stdout.split() == ["web"]
    # the login exists only inside the lab's sshds: the machine's own files are untouched
    assert "labpw" not in Path("/etc/passwd").read_text()
    assert "labpw" not in Path("/etc/shadow").read_text()
