"""Shared fixtures. The lab (real sshd + Docker engines in namespaces) comes up once per session."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Under pytest-xdist (scripts/test.sh runs two workers) each worker brings up its own lab:
# "t" becomes "t0" and "t1", each with its own namespaces, engines, registries and subnet.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
LAB_NAME = os.environ.get("DEPLOYER_TEST_LAB", "t") + _WORKER
if len(LAB_NAME) > 6:  # the lab's names (links, namespaces) must stay short
    raise pytest.UsageError(
        f"lab name {LAB_NAME!r} is over 6 characters: DEPLOYER_TEST_LAB plus the worker's "
        f"number ({_WORKER or 'none'}) must fit; pick a shorter DEPLOYER_TEST_LAB"
    )
LAB_HOSTS = int(os.environ.get("DEPLOYER_TEST_LAB_HOSTS", "3"))

# A test suite started in the background by a shell without job control (`cmd &` in a
# script) inherits SIGINT ignored, and passes that on to every process it starts: the
# Ctrl-C tests' deployer then never sees the interrupt (Python keeps an ignored SIGINT
# ignored). A handler here is reset to the default in each child, as a terminal's run.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class Lab:
    """A running lab as the tests see it."""

    layout: object
    dir: Path
    inventory: Path

    def host(self, name: str) -> object:
        return next(h for h in self.layout.hosts() if h.name == name)  # type: ignore[attr-defined]

    def ssh_argv(self, name: str) -> list[str]:
        host = self.host(name)
        base = [
            "ssh",
            "-i",
            str(self.dir / "id_ed25519"),
            "-o",
            f"UserKnownHostsFile={self.dir / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
        ]
        if host.role == "private":  # type: ignore[attr-defined]
            bastion = self.host("bastion")
            jump = " ".join(shlex.quote(a) for a in base) + f" -W %h:%p root@{bastion.address}"  # type: ignore[attr-defined]
            base += ["-o", f"ProxyCommand={jump}"]
        return [*base, f"root@{host.address}"]  # type: ignore[attr-defined]

    def sh(self, name: str, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell script on a lab host over real SSH."""
        proc = subprocess.run(
            [*self.ssh_argv(name), script], capture_output=True, text=True, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"on {name}: {script!r} exited {proc.returncode}: {proc.stderr}")
        return proc

    def docker(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Talk to a lab host's engine directly (not over SSH), for checks."""
        host = self.host(name)
        return subprocess.run(
            ["docker", "-H", host.docker_host, *args],  # type: ignore[attr-defined]
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop_sshd(self, name: str) -> None:
        """Stop a host's sshd (the host becomes unreachable) and wait until its port closes."""
        import signal
        import time

        from deployer.lab import services

        host = self.host(name)
        pid = int((host.run_dir / "sshd.pid").read_text().split()[0])  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while services.port_open(host.address, 22):  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, f"sshd of {name} would not stop"
            time.sleep(0.1)

    def start_sshd(self, name: str) -> None:
        """Start a host's sshd again, with its own host key, and wait until SSH works."""
        import time

        from deployer.lab import services

        services.launch_sshd(self.host(name), self.layout.auth_dir)  # type: ignore[arg-type, attr-defined]
        deadline = time.monotonic() + 20
        while self.sh(name, "true", check=False).returncode != 0:
            assert time.monotonic() < deadline, f"sshd of {name} did not come back"
            time.sleep(0.2)

    def web_hosts(self) -> list[str]:
        return [h.name for h in self.layout.hosts() if h.role == "web"]  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Remove every container and deployer state on every engine host (between tests)."""
        for h in self.layout.hosts():  # type: ignore[attr-defined]
            if h.has_engine:
                ids = self.docker(h.name, "ps", "-aq").stdout.split()
                if ids:
                    self.docker(h.name, "rm", "-f", *ids)
            state = h.data_dir / "fs" / "var_lib_deployer"
            if state.exists():
                for p in state.iterdir():
                    subprocess.run(["rm", "-rf", str(p)], check=False)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from deployer import lab as labmod

    folder = Path(f"/var/tmp/deployer-test-lab-{LAB_NAME}")
    layout = labmod.make_layout(LAB_NAME, folder, LAB_HOSTS)
    info = labmod.up(layout, folder / "lab.yml")
    try:
        yield Lab(layout=layout, dir=layout.dir, inventory=info.inventory)
    finally:
        left = labmod.down(layout, folder / "lab.yml")
        assert not left, f"lab down left: {left}"


@pytest.fixture
def clean_lab(lab: Lab) -> Lab:
    lab.reset()
    return lab
