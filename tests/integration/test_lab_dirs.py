"""The lab in any folder (under /tmp too), and a failed `lab up` that cleans up after itself.

Needs root and the lab's packages. Uses its own small labs "hy" and "hyf" (never the
session lab), each brought down by the test itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer import lab as labmod
from deployer.errors import LabError
from deployer.lab import images, net, services
from deployer.lab.layout import Layout, make_layout
from deployer.lab.system import alive, pids_matching

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def ssh(layout: Layout, host: str, script: str) -> subprocess.CompletedProcess[str]:
    address = next(h.address for h in layout.hosts() if h.name == host)
    return subprocess.run(
        [
            "ssh",
            "-i",
            str(layout.key_file),
            "-o",
            f"UserKnownHostsFile={layout.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            f"root@{address}",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def everything_of(layout: Layout) -> list[str]:
    """What of this lab exists on the machine: processes, namespaces, links, routes, files."""
    found = labmod.leftovers(layout)
    found += [
        f"process {p}"
        for p in sorted(pids_matching([layout.prefix + "-", f"deployer-lab-{layout.name}/"]))
    ]
    if layout.certs_d.exists():
        found.append(f"path {layout.certs_d}")
    return found


@pytest.fixture
def tmp_lab() -> Iterator[Layout]:
    folder = Path(f"/tmp/deployer-test-lab-hy-{uuid.uuid4().hex[:6]}")
    layout = make_layout("hy", folder, 1)
    try:
        yield layout
    finally:
        labmod.down(layout, None)
        assert everything_of(layout) == []


def test_a_lab_under_tmp_works(tmp_lab: Layout) -> None:
    folder = tmp_lab.dir
    up = cli("lab", "up", "--name", "hy", "--hosts", "1", "--dir", str(folder))
    assert up.returncode == 0, up.stderr
    assert "Traceback" not in up.stderr
    # Real SSH logins, strict host keys, each host in its own namespace
    for host in ("h1", "bastion"):
        proc = ssh(tmp_lab, host, "hostname; id -u")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [host, "0"]
    # and the deployer itself reaches them all (the private one through the bastion)
    health = cli("health", "-i", str(folder / "lab.yml"), "--limit", "h1:p1", "-o", "json")
    doc = json.loads(health.stdout)
    reached = {h["name"]: (h["reachable"], bool(h["engine_version"])) for h in doc["hosts"]}
    assert reached == {"h1": (True, True), "p1": (True, True)}, (
        doc
    )  # (degraded is fine: a busy machine)
    # The host's /tmp is still its own: what it writes there is not in the machine's /tmp
    marker = f"hy-{uuid.uuid4().hex}"
    assert ssh(tmp_lab, "h1", f"echo hi > /tmp/{marker} && cat /tmp/{marker}").stdout == "hi\n"
    assert not Path("/tmp", marker).exists()
    down = cli("lab", "down", "--name", "hy", "--dir", str(folder))
    assert down.returncode == 0, down.stderr
    assert everything_of(tmp_lab) == [] and not folder.exists()


def test_lab_dir_being_tmp_itself_is_refused_clearly() -> None:
    proc = cli("lab", "up", "--name", "hy", "--hosts", "1", "--dir", "/tmp", timeout=30)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "--dir /tmp: the lab's hosts get their own /tmp" in proc.stderr
    assert not Path("/var/run/netns/dlhy-h1").exists()


# ---------------------------------------------------------------- a failed up


@pytest.fixture
def failing_lab() -> Iterator[Layout]:
    layout = make_layout("hyf", Path(f"/var/tmp/deployer-test-lab-hyf-{uuid.uuid4().hex[:6]}"), 2)
    try:
        yield layout
    finally:
        labmod.down(layout, None)


def _running(layout: Layout) -> dict[str, int]:
    state = json.loads(layout.state_file.read_text())
    pids = {k: int(v) for k, v in state["pids"].items()}
    return {k: p for k, p in pids.items() if alive(p)}


@pytest.mark.parametrize(
    "where, error",
    [
        ("images", LabError("injected: the image build failed")),
        ("second engine", LabError("injected: the second engine would not start")),
        ("images", KeyboardInterrupt()),
    ],
)
def test_a_failed_up_leaves_nothing_running(
    failing_lab: Layout, monkeypatch: pytest.MonkeyPatch, where: str, error: BaseException
) -> None:
    seen: dict[str, int] = {}
    inventory = failing_lab.dir / "lab.yml"

    def fail_images(layout: Layout, builder: object) -> None:
        seen.update(_running(layout))  # by now: every sshd, engine and both registries
        raise error

    real_dockerd = services.start_dockerd
    engines: list[int] = []

    def fail_second_engine(layout: Layout, host: object) -> int:
        if engines:
            seen.update(
                {f"sshd {i}": p for i, p in enumerate(pids_matching([f"{layout.dir}/hosts/"]))}
            )
            seen.update({f"dockerd {i}": p for i, p in enumerate(engines)})
            raise error
        engines.append(real_dockerd(layout, host))  # type: ignore[arg-type]
        return engines[-1]

    if where == "images":
        monkeypatch.setattr(images, "build_and_push", fail_images)
    else:
        monkeypatch.setattr(services, "start_dockerd", fail_second_engine)
    with pytest.raises(type(error)) as raised:
        labmod.up(failing_lab, inventory)
    if isinstance(error, LabError):
        assert "injected" in str(raised.value)
    # the failure came late enough for something to be running
    assert seen and (
        where != "images" or {"registry/plain", "registry/tls", "h1/dockerd"} <= set(seen)
    ), seen
    assert [k for k, pid in seen.items() if alive(pid)] == []
    assert everything_of(failing_lab) == []
    assert not Path(f"/var/run/netns/{failing_lab.prefix}-h1").exists()
    assert not any(
        line.split(":", 2)[1].strip().split("@")[0].startswith(failing_lab.prefix)
        for line in subprocess.run(
            ["ip", "-o", "link", "show"], capture_output=True, text=True
        ).stdout.splitlines()
    )
    assert not failing_lab.dir.exists() and not inventory.exists()
    assert not net.lab_netns(failing_lab)


def _is_dockerd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
    except OSError:
        return False


def test_lab_up_stopped_by_sigterm_leaves_nothing(failing_lab: Layout) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deployer",
            "lab",
            "up",
            "--name",
            "hyf",
            "--hosts",
            "2",
            "--dir",
            str(failing_lab.dir),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        engines: set[int] = set()
        while time.monotonic() < deadline and not engines:  # stop it once engines run
            engines = {
                p for p in pids_matching([f"deployer-lab-{failing_lab.name}/"]) if _is_dockerd(p)
            }
            time.sleep(0.1)
        assert engines, "no engine ever started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert [p for p in engines if alive(p)] == []
    assert everything_of(failing_lab) == [] and not failing_lab.dir.exists()
