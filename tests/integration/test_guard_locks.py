"""Issue 9, items 1-4 and 8, against the real lab: probes reach the application itself,
locks know a live holder from a dead one, overlapping runs never split the hosts, the
host-side guard restores a host whose controller died or lost its connection, and a
failed start leaves nothing behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_deploy import (
    PLAYBOOKS,
    cli_env,
    container_id,
    deploy,
    deployer,
    image,
    serves,
    start_deployer,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "home")


UNHEALTHY = "image={{lab_image_unhealthy}}"


def names(lab, host: str) -> list[str]:
    return sorted(lab.docker(host, "ps", "-a", "--format", "{{.Names}}").stdout.split())


def running(lab, host: str, name: str = "web") -> bool:
    return (
        lab.docker(host, "inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"
    )


def wait_for_line(proc: subprocess.Popen[str], text: str, seconds: float = 90) -> str:
    """Read the run's progress lines (stderr) until one holds `text`."""
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}:\n{seen}")


def audit_records(lab, host: str) -> list[dict[str, object]]:
    out = lab.sh(host, "cat /var/lib/deployer/audit.log 2>/dev/null || true").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def until(check, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds:.0f}s: {what}"
        time.sleep(0.5)


# ---------------------------------------------------------------- item 1: probes


def test_tcp_check_on_a_published_port_probes_the_application_not_docker_proxy(
    clean_lab, env
) -> None:
    lab = clean_lab
    res = deploy(lab, env, "tcp_sleep.yml", "-o", "json")
    assert res.code == 3, res  # nothing listens on 80 in the container: never healthy
    h1 = res.hosts()["h1"]
    assert h1["containers"][0]["health"] == "failed", h1
    assert "not healthy" in h1["containers"][0]["error"], h1
    assert names(lab, "h1") == []  # the failed first version was removed
    # the same check passes when the application listens
    ok = deploy(
        lab, env, "tcp_sleep.yml", "-e", '{"command": "httpd -f -p 80 -h /www"}', "-o", "json"
    )
    assert ok.code == 0, ok
    assert "TCP 80 open" in ok.hosts()["h1"]["containers"][0]["health_detail"], ok


def test_a_failed_gate_restores_even_when_an_image_is_named_like_the_container(
    clean_lab, env
) -> None:
    """Review finding: `docker inspect web` also matches an image (or volume, network, id
    prefix) named web, and the restore took it for another run's container holding the
    name: the host was left without service."""
    lab = clean_lab
    pulled = lab.docker("h1", "pull", "-q", image(lab, "v1"))
    assert pulled.returncode == 0, pulled.stderr
    assert lab.docker("h1", "tag", image(lab, "v1"), "web").returncode == 0
    assert lab.docker("h1", "volume", "create", "web").returncode == 0
    try:
        assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
        old = container_id(lab, "h1")
        res = deploy(lab, env, "web.yml", "--limit", "h1", "-e", UNHEALTHY, "-o", "json")
        assert res.code == 3, res
        assert "rolled back" in res.hosts()["h1"]["reason"], res.hosts()["h1"]
        assert container_id(lab, "h1") == old and running(lab, "h1") and serves(lab, "h1", "v1")
    finally:
        lab.docker("h1", "rm", "-f", "web")
        lab.docker("h1", "volume", "rm", "web")
        lab.docker("h1", "rmi", "web")


# ---------------------------------------------------------------- item 8: failed start


def test_a_failed_first_start_leaves_no_created_container(clean_lab, env) -> None:
    lab = clean_lab
    squat = lab.docker("h1", "run", "-d", "--name", "squatter", "-p", "8080:80", image(lab, "v1"))
    assert squat.returncode == 0, squat.stderr
    res = deploy(lab, env, "web.yml", "--limit", "h1", "-o", "json")
    assert res.code == 3, res
    assert "port is already allocated" in res.hosts()["h1"]["containers"][0]["error"], res
    assert names(lab, "h1") == ["squatter"]  # no `Created` web left to be kept as a version
    lab.docker("h1", "rm", "-f", "squatter")
    again = deploy(lab, env, "web.yml", "--limit", "h1", "-o", "json")
    assert again.code == 0, again
    assert names(lab, "h1") == ["web"]


# ---------------------------------------------------------------- item 2: lock release


def test_lock_release_refuses_a_live_run_and_restore_never_removes_by_name(clean_lab, env) -> None:
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    first = start_deployer(
        env,
        "deploy",
        str(PLAYBOOKS / "slow_gate.yml"),
        "-i",
        str(lab.inventory),
        "--limit",
        "h1",
        "-e",
        UNHEALTHY,
        "-o",
        "json",
    )
    try:
        wait_for_line(first, "waiting for health")
        refused = deployer(env, "lock", "release", "-i", str(lab.inventory), "--limit", "h1")
        assert refused.code == 6 and "REFUSED" in refused.stdout, refused
        status = deployer(env, "lock", "status", "-i", str(lab.inventory), "--limit", "h1")
        assert "LOCKED" in status.stdout and "holder alive" in status.stdout, status
        assert lab.sh("h1", "test -d /var/lib/deployer/lock && echo held").stdout.strip() == "held"
        # Forced anyway, and a second run deploys v1 meanwhile: the first run's restore must
        # not remove the second run's container by name.
        forced = deployer(
            env, "lock", "release", "-i", str(lab.inventory), "--limit", "h1", "--force"
        )
        assert forced.code == 0 and "released" in forced.stdout, forced
        # --force let a second run in while the first is still at work: they may clash
        # (either may fail), but neither removes the other's container by name, so the host
        # ends up serving.
        second = deploy(lab, env, "web.yml", "--limit", "h1", "-o", "json")
        assert second.code in (0, 3), second
        out, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 3, (out, err)
    until(lambda: running(lab, "h1") and serves(lab, "h1", "v1"), 60, "h1 serving v1")


def test_a_lock_left_by_a_dead_run_is_named_dead_and_released_without_force(clean_lab, env) -> None:
    lab = clean_lab
    lab.sh(
        "h1",
        'mkdir -p /var/lib/deployer/lock && echo \'{"who": "x@y", "run": "r0", '
        '"host": "elsewhere", "pid": 1}\' > /var/lib/deployer/lock/info && '
        "touch -d '10 minutes ago' /var/lib/deployer/lock/info",
    )
    status = deployer(env, "lock", "status", "-i", str(lab.inventory), "--limit", "h1")
    assert "holder DEAD" in status.stdout and "no heartbeat for 10m" in status.stdout, status
    rel = deployer(env, "lock", "release", "-i", str(lab.inventory), "--limit", "h1")
    assert rel.code == 0 and "released" in rel.stdout, rel
    assert (
        lab.sh("h1", "test -e /var/lib/deployer/lock && echo held || echo free").stdout.strip()
        == "free"
    )


# ---------------------------------------------------------------- item 3: overlapping runs


def test_two_overlapping_runs_one_proceeds_the_other_exits_6_untouched(clean_lab, env) -> None:
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml")).code == 0, r
    for round_, version in enumerate(["v2", "v1", "v2"]):
        args = (
            "deploy",
            str(PLAYBOOKS / "web.yml"),
            "-i",
            str(lab.inventory),
            "-e",
            f"image={image(lab, version)}",
            "-o",
            "json",
        )
        procs = [start_deployer(env, *args), start_deployer(env, *args)]
        results = [(p.wait(timeout=120), p.communicate()) for p in procs]
        codes = sorted(code for code, _ in results)
        seen = (round_, [(c, o[0][-1500:], o[1][-1500:]) for c, o in results])
        reports = [json.loads(out) for _, (out, _) in results]
        if codes == [0, 0]:  # they did not overlap after all: the later found everything done
            assert sorted(r["summary"]["changed"] for r in reports) == [0, 3], seen
        else:  # they overlapped: one proceeded, the other changed nothing and exited 6
            assert codes == [0, 6], seen
            loser = next(r for r in reports if r["exit_code"] == 6)
            assert loser["locked"] is True
            assert {h["status"] for h in loser["hosts"]} == {"skipped"}, loser["hosts"]
        for host in ("h1", "h2", "h3"):
            assert serves(lab, host, version), (round_, host)
            assert (
                lab.sh(
                    host, "test -e /var/lib/deployer/lock && echo held || echo free"
                ).stdout.strip()
                == "free"
            )


def test_two_overlapping_runs_with_lock_wait_run_one_after_the_other(clean_lab, env) -> None:
    lab = clean_lab
    args = (
        "deploy",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--lock-wait",
        "60",
        "-o",
        "json",
    )
    procs = [start_deployer(env, *args), start_deployer(env, *args)]
    t0 = time.monotonic()
    results = [(p.wait(timeout=150), p.communicate()) for p in procs]
    assert [code for code, _ in results] == [0, 0], [(c, o[1][-1500:]) for c, o in results]
    assert time.monotonic() - t0 < 60  # no circle waited out to its timeout
    reports = [json.loads(out) for _, (out, _) in results]
    # one deployed everywhere, the other found everything done
    assert sorted(r["summary"]["changed"] for r in reports) == [0, 3], reports


# ---------------------------------------------------------------- item 4: the host guard


def _cut_ssh(lab, host: str, cut: bool) -> None:
    netns = lab.host(host).netns
    op = "-I" if cut else "-D"
    subprocess.run(
        [
            "nsenter",
            f"--net=/var/run/netns/{netns}",
            "iptables",
            op,
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "22",
            "-j",
            "DROP",
        ],
        check=True,
    )


@pytest.mark.parametrize("fault", ["kill -9", "connection cut"])
def test_the_host_guard_restores_the_old_version_when_the_controller_is_gone(
    clean_lab, env, fault
) -> None:
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    old = container_id(lab, "h1")
    proc = start_deployer(
        env,
        "deploy",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--limit",
        "h1",
        "-e",
        UNHEALTHY,
    )
    cut = False
    try:
        wait_for_line(proc, "waiting for health")
        assert container_id(lab, "h1") != old and not serves(lab, "h1", "v1")  # the bad one is in
        if fault == "kill -9":
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        else:
            _cut_ssh(lab, "h1", True)
            cut = True
        # Nobody confirms the new version: the guard on the host puts the old one back.
        until(
            lambda: (
                container_id(lab, "h1") == old and running(lab, "h1") and serves(lab, "h1", "v1")
            ),
            90,
            "the old version back",
        )
        assert names(lab, "h1") == ["web"], names(lab, "h1")  # the unconfirmed one is gone
    finally:
        if cut:
            _cut_ssh(lab, "h1", False)
        proc.kill()
        proc.wait(timeout=30)
    records = audit_records(lab, "h1")
    assert records[-1]["outcome"] == "restored by the host's guard", records[-1]
    assert records[-1]["container"] == "web" and records[-1]["old_image_id"], records[-1]
    # the run is dead: its lock says so and goes without --force
    status = deployer(env, "lock", "status", "-i", str(lab.inventory), "--limit", "h1")
    if "LOCKED" in status.stdout:
        assert "holder DEAD" in status.stdout, status
        rel = deployer(env, "lock", "release", "-i", str(lab.inventory), "--limit", "h1")
        assert rel.code == 0, rel
    assert not lab.sh("h1", "ls /var/lib/deployer/guard 2>/dev/null").stdout.strip()
