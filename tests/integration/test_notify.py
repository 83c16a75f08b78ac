"""Notifications on the lab (issue 15): a real HTTP receiver (Apprise's json://) gets the
run's start and end with each host's outcome, never a secret; `health --watch` says a
container going down and coming back, once each."""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_deploy import WEB, cli_env, deploy, image

from tests.procs import interrupt
from tests.unit.report.test_notify_messages import Receiver

pytestmark = pytest.mark.lab
SECRET = "n0tify-must-not-see-this"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_a_run_says_its_start_and_each_hosts_end(clean_lab, tmp_path: Path, receiver) -> None:
    lab = clean_lab
    env = cli_env(tmp_path / "home", {"DEPLOYER_TEST_SECRET": SECRET})
    res = deploy(lab, env, "secrets.yml", "--notify", receiver.url)
    assert res.code == 0, res
    started, finished = receiver.got
    assert started["type"] == "info" and "deployer deploy started" in str(started["title"])
    assert all(h in str(started["message"]) for h in WEB)
    assert finished["type"] == "success" and "ok: " in str(finished["title"])
    for h in WEB:
        assert f"- {h}: changed (web create -> {image(lab, 'v1')})" in str(finished["message"])

    # a failed host and an unreachable one
    lab.stop_sshd(WEB[2])
    try:
        res = deploy(
            lab, env, "web.yml", "-e", f"image={image(lab, 'unhealthy')}", "--notify", receiver.url
        )
    finally:
        lab.start_sshd(WEB[2])
    assert res.code == 3, res
    last = receiver.got[-1]
    body = str(last["message"])
    assert last["type"] == "failure" and "FAILED" in str(last["title"])
    assert f"- {WEB[0]}: failed (web replace -> {image(lab, 'unhealthy')}): web:" in body
    assert "rolled back" in body
    assert f"- {WEB[2]}: unreachable" in body
    assert all(SECRET not in str(m) for m in receiver.got)


def test_a_dead_receiver_does_not_fail_the_run(clean_lab, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    res = deploy(clean_lab, env, "web.yml", "--notify", "json://127.0.0.1:9/hook")
    assert res.code == 0, res
    assert "warning: notification to json://… failed" in res.stderr


def test_watch_says_a_host_going_down_and_recovering_once_each(
    clean_lab, tmp_path: Path, receiver
) -> None:
    lab = clean_lab
    env = cli_env(tmp_path / "home")
    from test_deploy import PLAYBOOKS

    assert deploy(lab, env, "web.yml", "--limit", WEB[0]).code == 0
    argv = [
        sys.executable, "-X", "faulthandler", "-m", "deployer", "health", "-i", str(lab.inventory),
        str(PLAYBOOKS / "web.yml"), "--limit", WEB[0], "-e", "deployer_health_load_warn=1000",
        "-o", "json", "--out", str(tmp_path / "h.json"), "--watch", "0.5", "--notify", receiver.url,
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:

        def wait_for(n: int) -> None:
            deadline = time.monotonic() + 30
            while len(receiver.got) < n and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)

        time.sleep(2.0)  # a few healthy rounds: nothing to say
        assert receiver.got == []
        lab.docker(WEB[0], "stop", "-t", "0", "web")
        wait_for(1)
        time.sleep(1.5)  # more rounds, still down: said once
        lab.docker(WEB[0], "start", "web")
        wait_for(2)
        time.sleep(1.5)
    finally:
        _, err = interrupt(proc, 30)
    titles = [str(m["title"]) for m in receiver.got]
    assert titles == [
        f"deployer health: {WEB[0]} unhealthy",
        f"deployer health: {WEB[0]} recovered",
    ], (titles, err)
