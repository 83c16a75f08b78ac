"""`target: swarm` on the lab (issue 16): the web hosts made one swarm for this module
(h1 the manager), the demo page as a service of 3 replicas with host-mode port 8080.

The tests run in order on one swarm and build on each other (v1, then v2 under load, a
rollback, a never-healthy image): a swarm and its service take seconds to set up, and the
suite's time is bounded.
"""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_deploy import WEB, cli_env, deploy, deployer, image, page

from deployer.lab import swarm as labswarm
from deployer.lab.load import Load

pytestmark = pytest.mark.lab

TOKEN = "swarm-test-token-7c1e9"
PLAYBOOK = "swarm.yml"


@pytest.fixture(scope="module")
def swarm(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    lab.reset()
    labswarm.make_swarm(lab.layout)
    try:
        yield lab
    finally:
        labswarm.leave_swarm(lab.layout)
        lab.reset()


@pytest.fixture(scope="module")
def senv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(Path(tmp_path_factory.mktemp("swarm")) / "home", {"SWARM_TEST_TOKEN": TOKEN})


def service(lab) -> dict[str, Any]:
    proc = lab.docker("h1", "service", "inspect", "web")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[0]


def running_tasks(lab) -> list[tuple[str, str]]:
    """(node address, image) of every task that should run and does."""
    nodes = {}
    for line in lab.docker("h1", "node", "ls", "-q").stdout.split():
        addr = lab.docker("h1", "node", "inspect", "-f", "{{.Status.Addr}}", line).stdout.strip()
        nodes[line] = addr
    out = lab.docker(
        "h1",
        "service",
        "ps",
        "web",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.ID}}",
    ).stdout.split()
    tasks = []
    for tid in out:
        t = json.loads(lab.docker("h1", "inspect", tid).stdout)[0]
        if t["Status"]["State"] == "running":
            tasks.append((nodes[t["NodeID"]], t["Spec"]["ContainerSpec"]["Image"]))
    return sorted(tasks)


def serves(lab, version: str, within: float = 10.0) -> dict[str, bool]:
    """Which web host serves VERSION on 8080 (each given up to `within` seconds: a task
    Swarm just restarted may take a moment to listen)."""
    deadline = time.monotonic() + within
    while True:
        seen = {h: f"demo {version}" in page(lab, h) for h in WEB}
        if all(seen.values()) or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def test_v1_then_v2_under_load_on_three_nodes_and_noop(swarm, senv) -> None:
    lab = swarm
    first = deploy(lab, senv, PLAYBOOK, "-o", "json")
    assert first.code == 0, first
    doc = first.json()
    assert doc["services"][0]["status"] == "changed", first
    # the report names each node by its inventory name
    assert sorted(doc["services"][0]["nodes"]) == WEB, first
    assert serves(lab, "v1") == dict.fromkeys(WEB, True)

    # secret_env: a Swarm secret, never in the service spec's env or labels
    spec_text = json.dumps(service(lab))
    assert TOKEN not in spec_text
    assert "API_TOKEN" not in json.dumps(
        service(lab)["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    )
    # ... yet the app's process has it in its environment
    cid = lab.docker("h2", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=web")
    environ = lab.docker("h2", "exec", cid.stdout.split()[0], "cat", "/proc/1/environ").stdout
    assert f"API_TOKEN={TOKEN}" in environ.split("\0")

    v1_version = service(lab)["Version"]["Index"]
    again = deploy(lab, senv, PLAYBOOK, "-o", "json")
    assert again.code == 0, again
    assert again.json()["services"][0]["status"] == "ok", again
    assert service(lab)["Version"]["Index"] == v1_version, "a no-op redeploy changed the service"

    check = deploy(lab, senv, PLAYBOOK, "--check", "-e", f"image={image(lab, 'v2')}")
    assert check.code == 0, check
    assert "would change" in check.stdout and "image:" in check.stdout, check
    assert service(lab)["Version"]["Index"] == v1_version, "--check changed the service"

    targets = {h: (lab.host(h).address, 8080) for h in WEB}
    with Load(targets, interval=0.02, slow_every=1.0) as load:
        started = time.monotonic()
        v2 = deploy(lab, senv, PLAYBOOK, "-e", f"image={image(lab, 'v2')}")
        took = time.monotonic() - started
    assert v2.code == 0, v2
    failed = load.failed()
    # host-mode ports: Swarm updates stop-first (a start-first task could not bind the
    # node's port), so each node is without its task for a moment: requests fail there.
    print(
        f"swarm v1 -> v2, 3 nodes, serial 1: {took:.1f}s, {len(failed)} failed requests "
        f"of {sum(sum(c.values()) for c in load.counts().values())}"
    )
    assert serves(lab, "v2") == dict.fromkeys(WEB, True)
    tasks = running_tasks(lab)
    assert len(tasks) == 3 and {i for _, i in tasks} == {image(lab, "v2")}, tasks
    assert sorted(a for a, _ in tasks) == sorted(lab.host(h).address for h in WEB), tasks


def test_rollback_brings_back_the_previous_spec(swarm, senv) -> None:
    lab = swarm
    back = deployer(
        senv,
        "rollback",
        str(Path(__file__).parent / "playbooks" / PLAYBOOK),
        "-i",
        str(lab.inventory),
        "-e",
        f"image={image(lab, 'v2')}",
    )
    assert back.code == 0, back
    assert {i for _, i in running_tasks(lab)} == {image(lab, "v1")}, back
    assert serves(lab, "v1") == dict.fromkeys(WEB, True)
    v2 = deploy(lab, senv, PLAYBOOK, "-e", f"image={image(lab, 'v2')}")
    assert v2.code == 0, v2


def test_never_healthy_image_is_rolled_back_by_swarm_exit_3(swarm, senv) -> None:
    lab = swarm
    bad = deploy(lab, senv, PLAYBOOK, "-o", "json", "-e", f"image={image(lab, 'unhealthy')}")
    assert bad.code == 3, bad
    outcome = bad.json()["services"][0]
    assert outcome["status"] == "failed", bad
    assert "rolled back" in outcome["reason"] or "rollback" in outcome["reason"], bad
    assert image(lab, "unhealthy") in outcome["reason"], bad  # the tasks' reason
    assert {i for _, i in running_tasks(lab)} == {image(lab, "v2")}
    assert serves(lab, "v2") == dict.fromkeys(WEB, True)
    # Swarm's rollback swapped the specs: a second rollback would bring the bad one back
    again = deployer(
        senv,
        "rollback",
        str(Path(__file__).parent / "playbooks" / PLAYBOOK),
        "-i",
        str(lab.inventory),
    )
    assert again.code == 3 and "already rolled" in again.out, again
    assert {i for _, i in running_tasks(lab)} == {image(lab, "v2")}


def test_swarm_init_is_idempotent_and_status_shows_nodes(swarm, senv) -> None:
    lab = swarm
    init = deployer(
        senv,
        "swarm",
        "init",
        "-i",
        str(lab.inventory),
        "--managers",
        "h1",
        "--workers",
        "h2:h3",
    )
    assert init.code == 0, init
    assert "already a manager" in init.stdout and init.stdout.count("already") == 3, init
    status = deployer(
        senv, "swarm", "status", "-i", str(lab.inventory), "--managers", "web", "-o", "json"
    )
    assert status.code == 0, status
    doc = status.json()
    assert sorted(n["name"] for n in doc["nodes"]) == WEB, status
    assert all(n["state"] == "ready" for n in doc["nodes"]), status
    web = next(s for s in doc["services"] if s["name"] == "web")
    assert web["running"] == web["wanted"] == 3, status


def test_health_of_a_swarm_play_shows_nodes_and_services(swarm, senv) -> None:
    lab = swarm
    res = deployer(
        senv,
        "health",
        "-i",
        str(lab.inventory),
        str(Path(__file__).parent / "playbooks" / PLAYBOOK),
        "-o",
        "json",
    )
    doc = res.json()
    assert sorted(n["name"] for n in doc["swarm"]["nodes"]) == WEB, res
    assert doc["swarm"]["services"]["web"]["running"] == 3, res
    # the manager's own host facts as for any host, and no "missing container web" there
    (h1,) = [h for h in doc["hosts"] if h["name"] == "h1"]
    assert not any("web" in str(f) and "missing" in str(f) for f in h1["findings"]), res
    assert res.code in (0, 3), res  # a host may be degraded by the machine's own disk


def _node_ready(lab, name: str) -> bool:
    addr = lab.host(name).address
    for nid in lab.docker("h1", "node", "ls", "-q").stdout.split():
        got = lab.docker(
            "h1", "node", "inspect", "-f", "{{.Status.Addr}} {{.Status.State}}", nid
        ).stdout.split()
        if got and got[0] == addr:
            return got[1:] == ["ready"]
    return False


def test_a_node_engine_stopped_mid_update_is_named_in_the_report(swarm, senv) -> None:
    """A worker's dockerd frozen (SIGSTOP: the manager stops hearing from it) as soon as the
    update starts, and kept frozen until deploy has answered."""
    import os
    import signal
    import subprocess
    import sys

    lab = swarm
    down = "h3"
    if service_image(lab) is None:  # run alone: the service first, on v1
        first = deploy(lab, senv, PLAYBOOK)
        assert first.code == 0, first
    old = service_image(lab)
    new = image(lab, "v1") if old == image(lab, "v2") else image(lab, "v2")
    before = (service(lab).get("UpdateStatus") or {}).get("StartedAt")
    pid = int((lab.host(down).run_dir / "docker.pid").read_text().split()[0])
    argv = [
        sys.executable,
        "-m",
        "deployer",
        "deploy",
        str(Path(__file__).parent / "playbooks" / "swarm-nodedown.yml"),
    ]
    argv += ["-i", str(lab.inventory), "-o", "json", "-e", f"image={new}"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=senv
    )
    stopped = False
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            status = service(lab).get("UpdateStatus") or {}
            if status.get("State") == "updating" and status.get("StartedAt") != before:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "deploy ended before the update started"
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        # at most the swarm timeout (25s) twice: the update's, then the rollback's
        stdout, stderr = proc.communicate(timeout=80)
        print(f"deploy with {down}'s engine stopped: exit {proc.returncode}\n{stdout}\n{stderr}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if stopped:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while not _node_ready(lab, down):
            assert time.monotonic() < deadline, f"{down} not ready again"
            time.sleep(0.5)
    assert proc.returncode in (0, 3), (proc.returncode, stdout, stderr)
    outcome = json.loads(stdout)["services"][0]
    assert down in outcome["down_nodes"], outcome  # the report names the node...
    assert down not in outcome["nodes"], outcome
    assert f"{down}" in outcome["reason"], outcome  # ... and says why, in words
    if proc.returncode == 0:  # completed: every task on the nodes that are up runs the new image
        assert outcome["status"] == "changed", outcome
        assert {i for imgs in outcome["nodes"].values() for i in imgs} == {new}, outcome
    else:  # rolled back (the old image), or held up by the node both ways: said so
        assert outcome["status"] == "failed", outcome
        images = {i for imgs in outcome["nodes"].values() for i in imgs}
        assert images == {old} or "not done within" in outcome["reason"], outcome
    # What Swarm does once the engine is back is Swarm's, not deployer's, and not asserted:
    # a stop-first replacement whose predecessor sat on the frozen node waits for that task
    # to be seen stopped, or for swarmkit's restart supervisor to give up on it (one minute
    # and the 5 s restart delay); a rollback that paused waits for an operator. CI saw both:
    # 3 tasks again after ~60 s, and 2 of 3 still after 100 s. The module's teardown leaves
    # the swarm whichever it is.
    status = (service(lab).get("UpdateStatus") or {}).get("State")
    print(f"once {down} was back: {running_tasks(lab)}; update {status}")


def service_image(lab) -> str | None:
    proc = lab.docker("h1", "service", "inspect", "web")
    if proc.returncode != 0:
        return None
    return str(json.loads(proc.stdout)[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"])
