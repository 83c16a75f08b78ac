"""The lock (wait-die), the host guard and the secret digests, run on a real local `sh`.

`docker` is a fake on PATH that logs its arguments (and answers inspect with a canned
text); everything else is the real shell, mkdir, date, sha256sum.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

from deployer.docker import commands as c
from deployer.docker import guard, locking
from deployer.docker.facts import parse_facts, probe_target
from deployer.model import ContainerSpec, HealthSpec, PortSpec, Secret

OLD = locking.priority(1_000, "aaaa")
NEW = locking.priority(2_000, "bbbb")


def fake_docker(
    tmp_path: Path, answer: str = "", answers: dict[str, str] | None = None
) -> dict[str, str]:
    """A `docker` that logs its arguments; `inspect`/`container inspect` print ANSWER; ANSWERS
    maps a shell `case` pattern over all arguments to what that call prints."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "docker.log"

    def glob(pat: str) -> str:  # quoted pieces, bare `*`
        return "*".join(shlex.quote(piece) if piece else "" for piece in pat.split("*"))

    cases = "".join(
        f"  {glob(pat)}) printf '%s\\n' {shlex.quote(out)}; exit 0;;\n"
        for pat, out in (answers or {}).items()
    )
    (bin_dir / "docker").write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\n'
        f'case "$*" in\n{cases}'
        f"  inspect*|'container inspect'*) printf '%s\\n' {shlex.quote(answer)};;\nesac\nexit 0\n"
    )
    (bin_dir / "docker").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def sh(
    script: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=timeout
    )


def acquire(
    state: Path, prio: str, wait: float = 0, info: str = '{"run": "x"}'
) -> subprocess.CompletedProcess[str]:
    return sh("\n".join(locking.acquire_lines(str(state), info, prio, wait)) + "\n")


# ---------------------------------------------------------------- the lock


def test_a_free_lock_is_taken_with_info_priority_and_heartbeat(tmp_path):
    res = acquire(tmp_path / "s", OLD, info='{"run": "r1"}')
    assert res.returncode == 0, res.stderr
    lock = tmp_path / "s" / "lock"
    assert (lock / "prio").read_text().strip() == OLD
    assert json.loads((lock / "info").read_text()) == {"run": "r1"}
    assert (lock / "heartbeat").exists()


def test_a_younger_run_gives_up_at_once_even_with_a_lock_wait(tmp_path):
    """Item 3: the younger never waits while it may hold other hosts (no AB/BA circle)."""
    assert acquire(tmp_path, OLD, info='{"run": "old"}').returncode == 0
    t0 = time.monotonic()
    res = acquire(tmp_path, NEW, wait=30)
    assert res.returncode == locking.EXIT_LOCKED
    assert '"old"' in res.stdout
    assert time.monotonic() - t0 < 3


def test_an_older_run_waits_for_a_younger_one_to_give_back(tmp_path):
    assert acquire(tmp_path, NEW, info='{"run": "young"}').returncode == 0
    lock = tmp_path / "lock"
    releaser = subprocess.Popen(["sh", "-c", f"sleep 1; rm -rf {shlex.quote(str(lock))}"])
    t0 = time.monotonic()
    res = acquire(tmp_path, OLD, info='{"run": "old"}')
    releaser.wait()
    assert res.returncode == 0, res.stdout
    assert 0.8 < time.monotonic() - t0 < locking.YIELD_SECONDS
    assert json.loads((lock / "info").read_text()) == {"run": "old"}


def test_an_older_run_stops_waiting_after_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(locking, "YIELD_SECONDS", 1)
    assert acquire(tmp_path, NEW, info='{"run": "young"}').returncode == 0
    t0 = time.monotonic()
    res = acquire(tmp_path, OLD)
    assert res.returncode == locking.EXIT_LOCKED and '"young"' in res.stdout
    assert time.monotonic() - t0 < 4


def test_read_and_parse_state(tmp_path):
    assert locking.parse_state(sh(locking.read_script(str(tmp_path))).stdout).held is False
    acquire(tmp_path, OLD, info='{"run": "r1", "pid": 5}')
    state = locking.parse_state(sh(locking.read_script(str(tmp_path))).stdout)
    assert state.held and state.run == "r1" and state.info["pid"] == 5
    assert state.heartbeat_age is not None and 0 <= state.heartbeat_age < 5


def test_heartbeat_and_release_touch_only_our_own_lock(tmp_path):
    acquire(tmp_path, OLD, info='{"run": "theirs"}')
    assert sh(locking.heartbeat_script(str(tmp_path), "ours")).returncode != 0
    assert sh(locking.release_script(str(tmp_path), "ours")).stdout.strip() == "changed"
    assert (tmp_path / "lock").exists()
    assert sh(locking.heartbeat_script(str(tmp_path), "theirs")).returncode == 0
    assert sh(locking.release_script(str(tmp_path), "theirs")).stdout.strip() == "released"
    assert not (tmp_path / "lock").exists()


def test_a_heartbeat_racing_a_release_never_makes_the_lock_again(tmp_path):
    """The release's `rm -rf` removed the heartbeat file; the heartbeat, whose check of the
    info came just before, must not create it again: rmdir would fail and leave a lock
    with neither info nor priority, which no run can take (3 hosts of 1,000)."""
    acquire(tmp_path, OLD, info='{"run": "ours"}')
    (tmp_path / "lock" / "heartbeat").unlink()  # where rm -rf had got to
    assert sh(locking.heartbeat_script(str(tmp_path), "ours")).returncode == 0
    assert not (tmp_path / "lock" / "heartbeat").exists()
    (tmp_path / "lock" / "info").unlink()
    (tmp_path / "lock" / "prio").unlink()
    (tmp_path / "lock").rmdir()  # and the release ends with nothing left


# ---------------------------------------------------------------- the guard


def run_guard(
    tmp_path: Path, seconds: int, *, decide_first: bool, answers: dict[str, str] | None = None
) -> tuple[list[str], Path]:
    state = tmp_path / "state"
    env = fake_docker(tmp_path, "/web", answers)
    lines = guard.start_lines(
        str(state),
        "att1",
        "web",
        "old1",
        seconds,
        {"container": "web", "host": "h1", "note": "it's $(x)"},
    )
    if decide_first:
        lines.append(guard.decide_line(str(state), "att1"))
    assert sh("\n".join(lines) + "\n", env).returncode == 0
    deadline = time.monotonic() + seconds + 10
    while (state / "guard" / "att1").exists():
        assert time.monotonic() < deadline, "the guard did not end"
        time.sleep(0.2)
    log = tmp_path / "docker.log"
    return (log.read_text().splitlines() if log.exists() else []), state


def test_the_guard_restores_the_previous_container_when_nobody_confirms(tmp_path):
    calls, state = run_guard(tmp_path, 1, decide_first=False)
    assert calls[0] == "ps -aq --no-trunc --filter name=^/web$"  # the name is free
    assert "ps -aq --filter label=deployer.attempt=att1" in calls
    assert calls[-1] == "start old1"  # old1 holds the name again (the fake says /web): started
    (record,) = [json.loads(line) for line in (state / "audit.log").read_text().splitlines()]
    assert record["outcome"] == "restored by the host's guard" and record["note"] == "it's $(x)"
    assert record["time"].endswith("+00:00") and record["container"] == "web"


def test_the_guard_stands_down_when_another_runs_container_holds_the_name(tmp_path):
    """Review finding: a guard outliving its run must not remove or stop a later run's work."""
    calls, state = run_guard(
        tmp_path,
        1,
        decide_first=False,
        answers={
            "ps -aq --no-trunc --filter name=*": "c0ffee",
            "container inspect --format*c0ffee": "other-attempt",
        },
    )
    assert not any(c.startswith(("rm", "rename", "start", "stop")) for c in calls), calls
    (record,) = [json.loads(line) for line in (state / "audit.log").read_text().splitlines()]
    assert record["outcome"] == "the host's guard stood down" and "left alone" in record["detail"]


def test_the_guard_acts_when_its_own_new_container_holds_the_name(tmp_path):
    calls, _ = run_guard(
        tmp_path,
        1,
        decide_first=False,
        answers={
            "ps -aq --no-trunc --filter name=*": "n3w",
            "container inspect --format*n3w": "att1",
        },
    )
    assert "start old1" in calls


def test_the_guard_stands_down_once_the_controller_decided(tmp_path):
    calls, state = run_guard(tmp_path, 2, decide_first=True)
    assert calls == [] and not (state / "audit.log").exists()


def test_a_new_lock_waits_for_a_pending_guard(tmp_path):
    """Review finding: a run taking the lock waits until a dead run's guard has acted."""
    g = tmp_path / "guard" / "att9"
    g.mkdir(parents=True)
    (g / "deadline").write_text(str(int(time.time()) + 60))
    remover = subprocess.Popen(["sh", "-c", f"sleep 1.5; rm -rf {shlex.quote(str(g))}"])
    t0 = time.monotonic()
    assert acquire(tmp_path, OLD).returncode == 0
    remover.wait()
    assert 1.2 < time.monotonic() - t0 < 10
    # a guard folder whose deadline long passed (its process is gone) is stale: no wait
    g.mkdir(parents=True)
    (g / "deadline").write_text(str(int(time.time()) - 100))
    (tmp_path / "lock").rename(tmp_path / "lock.old")
    t0 = time.monotonic()
    assert acquire(tmp_path, OLD).returncode == 0 and time.monotonic() - t0 < 3
    assert not g.exists()


def test_a_run_takes_back_its_own_lock(tmp_path):
    assert acquire(tmp_path, OLD, info='{"run": "me"}').returncode == 0
    t0 = time.monotonic()
    assert acquire(tmp_path, OLD, wait=30, info='{"run": "me"}').returncode == 0
    assert time.monotonic() - t0 < 2


def test_lock_state_lists_pending_guards(tmp_path):
    g = tmp_path / "guard" / "a1"
    g.mkdir(parents=True)
    (g / "deadline").write_text(str(int(time.time()) + 50))
    (tmp_path / "guard" / "a2" / "decided").mkdir(parents=True)  # decided: not pending
    state = locking.parse_state(sh(locking.read_script(str(tmp_path))).stdout)
    assert not state.held and len(state.guards) == 1 and 45 <= state.guards[0] <= 50


def test_the_guard_runs_detached_from_the_command_that_started_it(tmp_path):
    """The remote command returns without waiting for the guard (whose deadline is 30 s):
    the guard holds none of its output pipes, or run() would wait for it past its timeout.
    (Not a clock check: under a loaded CI, a command's own time is not a bound.)"""
    state = tmp_path / "state"
    lines = guard.start_lines(str(state), "att2", "web", None, 30, {})
    res = subprocess.run(
        ["sh", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        timeout=10,
        env=fake_docker(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    assert sh(guard.decide_line(str(state), "att2")).returncode == 0  # the controller decides
    assert sh(guard.decide_line(str(state), "att2")).returncode != 0  # and nobody else can


# ---------------------------------------------------------------- secret digests


def test_secret_digests_are_salted_by_the_run_and_match_the_planner(tmp_path):
    s = ContainerSpec(
        name="web",
        image="i",
        secret_env=(("API_TOKEN", Secret("env:T", "v=1 two")), ("DB", Secret("env:D", "pw"))),
    )
    env = fake_docker(tmp_path, "PATH=/bin\nAPI_TOKEN=v=1 two\nDB=other\nAPI_TOKEN_X=no")
    out = sh("\n".join(c.secret_digest_lines([s], "nonce1")) + "\n", env).stdout
    facts = parse_facts(out)
    assert facts.secrets == {
        "web": {
            "API_TOKEN": c.secret_digest("nonce1", "v=1 two"),
            "DB": c.secret_digest("nonce1", "other"),
        }
    }
    assert "v=1 two" not in "\n".join(c.secret_digest_lines([s], "nonce1"))
    assert c.secret_digest("nonce2", "pw") != c.secret_digest("nonce1", "pw")


# ---------------------------------------------------------------- where probes go


def test_probes_go_to_the_container_not_to_the_published_port():
    """Item 1: docker-proxy accepts on the published port even when nothing listens."""
    s = ContainerSpec(
        name="web", image="i", ports=(PortSpec(80, "tcp", 18200),), health=HealthSpec("tcp", 80)
    )
    assert probe_target(s, None, "172.17.0.2") == ("172.17.0.2", 80)
    assert probe_target(s, None, "") == ("127.0.0.1", 18200)  # no address of its own (host network)


def test_a_lock_without_priority_counts_as_older_after_a_moment(tmp_path):
    (tmp_path / "lock").mkdir()
    (tmp_path / "lock" / "info").write_text('{"who": "hand-made"}\n')
    t0 = time.monotonic()
    res = acquire(tmp_path, NEW, wait=30)
    assert res.returncode == locking.EXIT_LOCKED and "hand-made" in res.stdout
    assert 0.8 < time.monotonic() - t0 < 3
