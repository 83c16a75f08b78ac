"""docker/access.py: the state folder check and the sentences that name what to set."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from deployer.docker import access


def test_an_unwritable_state_folder_names_it_and_the_fixes() -> None:
    said = f"{access.MARK} ops denied\n"
    text = access.explain(said, "/var/lib/deployer", "ops", become=False)
    assert text is not None
    for word in (
        "ops cannot write the state folder /var/lib/deployer",
        "deployer_state_dir",
        "ansible_become: true",
        "install -d -g docker -m 2775 /var/lib/deployer",
        "may not use the Docker engine either",
    ):
        assert word in text, (word, text)


def test_with_become_the_group_fix_is_not_offered() -> None:
    text = access.explain(f"{access.MARK} root ok\n", "/srv/d", "ops", become=True)
    assert text is not None and "root cannot write the state folder /srv/d" in text
    assert "install -d" not in text and "Docker engine" not in text


def test_dockers_own_permission_denied() -> None:
    err = "permission denied while trying to connect to the Docker daemon socket at unix:///x"
    text = access.explain(err, "/var/lib/deployer", "ops", become=False)
    assert text is not None and "ops may not use the Docker engine" in text
    assert "ansible_become: true" in text and "group of the engine's socket" in text
    assert access.explain("no such image", "/d", "ops", become=False) is None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_the_check_runs_as_a_user_who_cannot_write(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    script = "\n".join(access.state_dir_lines(str(state))) + "\necho passed\n"
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script]
    got = subprocess.run(as_nobody, capture_output=True, text=True, timeout=30)
    assert got.returncode == access.EXIT_ACCESS and "passed" not in got.stdout, got
    assert got.stderr.startswith(f"{access.MARK} nobody "), got
    as_root = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert as_root.returncode == 0 and "passed" in as_root.stdout, as_root
