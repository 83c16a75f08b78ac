"""A light lab (`deployer lab up --light`): 20 sshd-only hosts sharing one engine.

deployer creates the container through h1 alone (the engine is shared: every host sees it),
then a no-op deploy and `deployer health` go to all 20 hosts; `lab down` leaves nothing.
The lab is "flt" (+ the xdist worker), never the session lab "t".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
NAME = "flt" + os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
HOSTS = 20
PLAYBOOK = """\
- name: fleet web
  hosts: web
  containers:
    - name: web
      image: "{{ lab_image_v1 }}"
      ports: ["8080:80"]
      health:
        http: {port: 80, path: /}
        timeout: 60s
        interval: 250ms
"""


# the run history of these runs: the module's own folder (XDG_STATE_HOME=/var/tmp left a
# /var/tmp/deployer behind every suite run)
STATE: dict[str, str] = {}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "XDG_STATE_HOME": STATE["dir"]},
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    STATE["dir"] = str(tmp_path_factory.mktemp("fleet-state"))
    folder = Path(f"/var/tmp/deployer-test-{NAME}-{uuid.uuid4().hex[:6]}")
    up = cli("lab", "up", "--light", "--name", NAME, "--hosts", str(HOSTS), "--dir", str(folder))
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        assert f"{HOSTS} light hosts" in up.stdout
        (folder / "fleet.yml").write_text(PLAYBOOK)
        yield folder
    finally:
        cli("lab", "down", "--name", NAME, "--dir", str(folder))


def hosts_of(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    hosts = json.loads(proc.stdout)["hosts"]
    assert isinstance(hosts, list)
    return hosts


def test_light_lab_deploy_noop_health_down(fleet: Path) -> None:
    from deployer.lab import leftovers, load_state, make_layout

    inv, pb = str(fleet / "lab.yml"), str(fleet / "fleet.yml")
    layout = make_layout(NAME, fleet, HOSTS, light=True)
    state = load_state(layout)
    assert state["light"] is True and state["hosts"] == HOSTS
    names = sorted(
        p.name for p in Path("/var/run/netns").iterdir() if p.name.startswith(f"dl{NAME}-")
    )
    assert len(names) == HOSTS + 1 and f"dl{NAME}-engine" in names

    first = cli("deploy", pb, "-i", inv, "--limit", "h1", "--output", "json", "--no-summary")
    assert first.returncode == 0, first.stderr
    (h1,) = hosts_of(first)
    assert h1["name"] == "h1" and h1["status"] == "changed"

    forks = ["--forks", str(HOSTS)]
    noop = cli("deploy", pb, "-i", inv, "--output", "json", "--no-summary", *forks)
    assert noop.returncode == 0, noop.stderr
    hosts = hosts_of(noop)
    assert sorted(str(h["name"]) for h in hosts) == sorted(f"h{i}" for i in range(1, HOSTS + 1))
    assert all(h["status"] == "ok" and h["connections"] == 1 for h in hosts), hosts

    health = cli("health", pb, "-i", inv, "--output", "json", *forks)
    # 3: degraded, e.g. the load check on a busy machine; every probe must still answer
    assert health.returncode in (0, 3), health.stderr
    report = hosts_of(health)
    assert len(report) == HOSTS
    for h in report:
        assert h["reachable"], h
        containers = h["containers"]
        assert isinstance(containers, list)
        (web,) = [c for c in containers if c["name"] == "web"]
        assert web["probe"]["ok"], h

    # each host keeps its own state folder: the create is in h1's audit, not in h2's
    audit = fleet / "hosts" / "{}" / "fs" / "var_lib_deployer" / "audit.log"
    assert "create" in Path(str(audit).format("h1")).read_text()
    h2_audit = Path(str(audit).format("h2"))
    assert not h2_audit.exists() or "create" not in h2_audit.read_text()

    down = cli("lab", "down", "--name", NAME, "--dir", str(fleet))
    assert down.returncode == 0, down.stderr + down.stdout
    assert leftovers(layout) == []
    assert not [p for p in Path("/var/run/netns").iterdir() if p.name.startswith(f"dl{NAME}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"dl{NAME}" not in links
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(fleet) not in mounts and f"/run/deployer-lab-{NAME}/" not in mounts
