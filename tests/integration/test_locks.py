"""Locks across plays: a lock held by another run stops the rollout with exit 6, and
what earlier plays did is still reported and recorded; only our own locks are released."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_deploy import container_id, deploy, env, host_fs  # noqa: F401

pytestmark = pytest.mark.lab


def test_lock_in_a_later_play_keeps_the_earlier_plays_report(clean_lab, env) -> None:  # noqa: F811
    lab = clean_lab
    lock = host_fs(lab, "h3", "var_lib_deployer") / "lock"
    lock.mkdir(parents=True)
    (lock / "info").write_text('{"who": "ops@elsewhere", "run": "someone-else"}\n')
    try:
        res = deploy(lab, env, "two_plays.yml", "-o", "json")
        assert res.code == 6, res
        hosts = res.hosts()
        assert hosts["h2"]["status"] == "changed", hosts["h2"]
        assert hosts["h3"]["status"] == "skipped" and "ops@elsewhere" in hosts["h3"]["reason"]
        assert "locked" in res.stderr and "ops@elsewhere" in res.stderr
        assert container_id(lab, "h2") is not None and container_id(lab, "h3") is None
        # the other run's lock is untouched, ours on h2 is released
        assert json.loads((lock / "info").read_text())["run"] == "someone-else"
        assert not (host_fs(lab, "h2", "var_lib_deployer") / "lock").exists()
        # the local run record has this run, with both hosts
        runs = (lab_state(env) / "runs.jsonl").read_text().splitlines()
        last = json.loads(runs[-1])
        assert {h["name"]: h["status"] for h in last["hosts"]} == {"h2": "changed", "h3": "skipped"}
    finally:
        (lock / "info").unlink()
        lock.rmdir()


def lab_state(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["XDG_STATE_HOME"]) / "deployer"
