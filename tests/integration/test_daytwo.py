"""Day-two commands on the lab (issue 17): ps agrees with docker ps, logs (and -f, and
Ctrl-C leaving nothing behind), exec with each host's exit code, and --one."""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from test_deploy import PLAYBOOKS, WEB, deploy, deployer, env  # noqa: F401

from tests.procs import interrupt

pytestmark = pytest.mark.lab


@pytest.fixture
def ticking(clean_lab, env):
    res = deploy(clean_lab, env, "ticker.yml")
    assert res.code == 0, res
    return clean_lab


def book() -> str:
    return str(PLAYBOOKS / "ticker.yml")


def test_ps_agrees_with_docker_ps_on_every_host(ticking, env) -> None:
    lab = ticking
    res = deployer(env, "ps", "-i", str(lab.inventory), book(), "-o", "json")
    assert res.code == 0, res
    rows = res.json()["containers"]
    for host in WEB:
        ids = lab.docker(host, "ps", "-q", "--filter", "label=deployer.managed=true").stdout.split()
        mine = [r for r in rows if r["host"] == host]
        assert sorted(r["id"] for r in mine) == sorted(ids), (host, mine, ids)
        (row,) = mine
        assert row["container"] == "ticker" and row["matches"] == "yes"
        assert row["state"] == "running (healthy)" and row["image"].endswith("demo/web:v1")
    text = deployer(env, "ps", "-i", str(lab.inventory), book())
    assert text.code == 0 and all(h in text.stdout for h in WEB)


def test_logs_tail_and_grep(ticking, env) -> None:
    lab = ticking
    time.sleep(2.5)
    res = deployer(env, "logs", "-i", str(lab.inventory), book(), "--tail", "2")
    assert res.code == 0, res
    for host in WEB:
        mine = [ln for ln in res.stdout.splitlines() if ln.startswith(f"{host} | tick ")]
        assert len(mine) == 2, res.stdout
    res = deployer(env, "logs", "-i", str(lab.inventory), book(), "--grep", "tick 0$")
    assert res.code == 0 and sorted(res.stdout.splitlines()) == [f"{h} | tick 0" for h in WEB]


def test_logs_follow_every_host_then_ctrl_c_leaves_nothing(ticking, env) -> None:
    lab = ticking
    argv = [
        sys.executable,
        "-X",
        "faulthandler",
        "-m",
        "deployer",
        "logs",
        "-i",
        str(lab.inventory),
        book(),
        "-f",
        "--tail",
        "0",
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    seen: dict[str, list[float]] = {h: [] for h in WEB}
    deadline = time.monotonic() + 20
    assert proc.stdout is not None
    while time.monotonic() < deadline and min(len(v) for v in seen.values()) < 3:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        host = line.split(" | ", 1)[0]
        assert " | tick " in line, line
        seen[host].append(time.monotonic())
    assert all(len(v) >= 3 for v in seen.values()), seen
    for host, stamps in seen.items():  # a line a second, each within about a second
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        assert max(gaps) < 2.0, (host, gaps)
    _, err = interrupt(proc, 20)
    assert proc.returncode == 130 and "Traceback" not in err, err
    time.sleep(1.0)  # every lab host's processes are this machine's
    left = subprocess.run(["pgrep", "-af", "docker logs --follow"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout


def test_exec_reports_each_hosts_exit_code_and_one_runs_once(ticking, env) -> None:
    lab = ticking
    inv = str(lab.inventory)
    res = deployer(
        env,
        "exec",
        "-i",
        inv,
        book(),
        "--container",
        "ticker",
        "--",
        "sh",
        "-c",
        "echo in $(hostname)",
    )
    assert res.code == 0, res
    for host in WEB:
        assert f"{host}: exit 0" in res.stdout and f"{host} | in " in res.stdout
    res = deployer(
        env, "exec", "-i", inv, book(), "-c", "ticker", "--limit", "h2", "--", "sh", "-c", "exit 3"
    )
    assert res.code == 3 and "h2: exit 3" in res.stdout, res
    lab.docker("h1", "stop", "-t", "0", "ticker")
    res = deployer(env, "exec", "-i", inv, book(), "-c", "ticker", "--one", "--", "echo", "once")
    assert res.code == 0, res
    assert res.stdout.count("| once") == 1 and "h2 | once" in res.stdout  # h1's is stopped
    assert json.dumps(res.stdout)  # plain text, no escape codes in a pipe
    assert "\x1b[" not in res.stdout


def test_restart_one_host_at_a_time_keeps_two_of_three_serving(clean_lab, env) -> None:
    from deployer.lab.load import Load

    lab = clean_lab
    assert deploy(lab, env, "serial.yml").code == 0
    targets = {h: (lab.host(h).address, 8080) for h in WEB}
    with Load(targets, interval=0.02, slow_path=None) as load:
        time.sleep(0.5)
        res = deployer(
            env, "restart", str(PLAYBOOKS / "serial.yml"), "-i", str(lab.inventory), "-o", "json"
        )
        time.sleep(0.5)
    assert res.code == 0, res
    assert [c["action"] for h in res.json()["hosts"] for c in h["containers"]] == ["restart"] * 3
    failed = load.failed()
    assert failed, "a restart of a ports-mode container must drop some requests on its host"
    spans = {h: (min(r.start for r in failed if r.target == h), max(r.end for r in failed if r.target == h))
             for h in {r.target for r in failed}}  # fmt: skip
    ordered = sorted(spans.values())
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        assert end <= start, spans  # never two hosts down at once: two of three serve
    audit = deployer(env, "audit", "-i", str(lab.inventory), "--limit", "h1")
    assert "restart" in audit.stdout, audit
