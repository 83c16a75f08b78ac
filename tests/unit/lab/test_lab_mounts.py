"""The mounts of a lab host's sshd (its own /tmp and state folder) for any lab folder. Pure."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from deployer.errors import LabError
from deployer.lab import services, up
from deployer.lab.layout import make_layout


@pytest.fixture
def _no_mkdir(monkeypatch: pytest.MonkeyPatch) -> None:
    """mount_script makes the hosts' folders: here, nothing is made."""
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: None)
    monkeypatch.setattr(services.os, "chmod", lambda *a, **k: None)
    monkeypatch.setattr(services.os, "chown", lambda *a, **k: None)


def binds(script: list[str]) -> list[tuple[str, str]]:
    out = []
    for step in script:
        for part in step.split(" && "):
            words = shlex.split(part)
            if words[:2] == ["mount", "--bind"]:
                out.append((words[2], words[3]))
    return out


def test_a_lab_outside_the_private_folders_binds_directly(_no_mkdir: None) -> None:
    layout = make_layout("hy", Path("/var/tmp/hy-lab"), 1)
    h1 = layout.hosts()[0]
    got = binds(services.mount_script(h1, layout.auth_dir))
    assert got == [
        (f"{layout.dir}/auth/passwd", "/etc/passwd"),
        (f"{layout.dir}/auth/shadow", "/etc/shadow"),
        (f"{layout.dir}/auth/group", "/etc/group"),
        (f"{layout.dir}/auth/sudoers", "/etc/sudoers"),
        (f"{h1.data_dir}/fs/tmp", "/tmp"),
        (f"{h1.data_dir}/fs/var_lib_deployer", "/var/lib/deployer"),
    ]


@pytest.mark.parametrize("folder", ["/tmp/hy-lab", "/tmp/a/b", "/var/lib/deployer/lab"])
def test_a_lab_under_a_private_folder_stays_visible_to_its_hosts(
    folder: str, _no_mkdir: None
) -> None:
    layout = make_layout("hy", Path(folder), 1)
    h1 = layout.hosts()[0]
    got = binds(services.mount_script(h1, layout.auth_dir))
    stash = str(h1.run_dir / "lab")
    assert got[0] == (str(layout.dir), stash)  # a handle on the lab's files, before any is hidden
    # every private folder comes through that handle, never through a path it hides
    for source, _ in got[1:-1]:
        assert source.startswith(stash + "/"), got
    assert (f"{stash}/hosts/h1/fs/tmp", "/tmp") in got
    assert got[-1] == (stash, str(layout.dir))  # and the lab is back at its own path
    assert not services.hidden_by_private_mounts(h1.run_dir)


@pytest.mark.parametrize("folder", ["/tmp", "/var/lib/deployer", "/var/lib"])
def test_a_lab_folder_that_is_a_private_folder_is_refused(folder: str, tmp_path: Path) -> None:
    with pytest.raises(LabError, match="the lab's hosts get their own"):
        up(make_layout("hy", Path(folder), 1), tmp_path / "lab.yml")


def test_every_lab_host_light_or_full_gets_an_empty_bashrc(
    _no_mkdir: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This machine's root may run `pyenv init` (and its rehash lock) at every login, which
    a fresh server would not: every lab host binds an empty ~/.bashrc over it (a full lab's
    hosts did not, and every command of every tool in bench/ paid 0.16 s for it)."""
    monkeypatch.setattr(Path, "exists", lambda self: True)
    light = make_layout("hz", Path("/var/tmp/hz-lab"), 2, light=True)
    h1 = light.hosts()[0]
    assert (f"{light.dir}/auth/bashrc", "/root/.bashrc") in binds(
        services.mount_script(h1, light.auth_dir)
    )
    full = make_layout("hy", Path("/var/tmp/hy-lab"), 1)
    got = binds(services.mount_script(full.hosts()[0], full.auth_dir))
    assert (f"{full.dir}/auth/bashrc", "/root/.bashrc") in got
