"""The rollout's state machine against in-memory engines: every step failing, locks, batches,
interrupts, rollback. The same guarantees the lab tests check (the previous version is
restored, only our own locks are released, a refused run changes nothing), in milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fake import FakeEngine, FakeHost

from deployer.engine.rollout import Options, Rollout
from deployer.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_UNREACHABLE
from deployer.model import ContainerSpec, HealthSpec, HostConn, Play, Playbook

NAMES = ("h1", "h2", "h3")
HEALTH = HealthSpec("http", 80, timeout=5)


def spec(image: str = "reg/web:v2") -> ContainerSpec:
    return ContainerSpec(name="web", image=image, health=HEALTH, retain=1)


def play(image: str = "reg/web:v2", hosts: tuple[str, ...] = NAMES, **kw: Any) -> Play:
    conns = tuple(HostConn(n, f"10.0.0.{i}") for i, n in enumerate(hosts, 1))
    return Play(
        name=kw.pop("name", "web"), hosts=conns, containers={n: (spec(image),) for n in hosts}, **kw
    )


class Fleet:
    """Fake hosts that outlive runs, each with v1 running unless told otherwise."""

    def __init__(self, names: tuple[str, ...] = NAMES, running: str | None = "reg/web:v1"):
        self.hosts = {n: FakeHost(n) for n in names}
        self.v1 = {n: h.run_as(spec(running)).id for n, h in self.hosts.items()} if running else {}
        self.engines: dict[str, FakeEngine] = {}

    def connect(self, conn: HostConn) -> FakeEngine:
        self.engines[conn.name] = FakeEngine(conn, self.hosts[conn.name])
        return self.engines[conn.name]

    def run(self, *plays: Play, **opts: Any) -> Any:
        return Rollout(Playbook("site.yml", plays), Options(**opts), self.connect).run()

    def live(self, name: str) -> Any:
        return self.hosts[name].live("web")

    def images(self) -> dict[str, str | None]:
        return {
            n: (b.image if (b := h.live("web")) and b.running else None)
            for n, h in self.hosts.items()
        }

    def locks(self) -> dict[str, Any]:
        return {n: h.lock for n, h in self.hosts.items()}


def statuses(report: Any) -> dict[str, str]:
    return {h.name: h.status for h in report.hosts}


# ---------------------------------------------------------------- the happy paths


def test_every_host_replaced_healthy_retained_audited_unlocked() -> None:
    fleet = Fleet()
    report = fleet.run(play())
    assert report.exit_code == EXIT_OK
    assert statuses(report) == {"h1": "changed", "h2": "changed", "h3": "changed"}
    assert fleet.images() == {"h1": "reg/web:v2", "h2": "reg/web:v2", "h3": "reg/web:v2"}
    for n, host in fleet.hosts.items():
        assert not host.boxes[fleet.v1[n]].running  # v1 retained for rollback, stopped
        assert host.lock is None
        assert [a["outcome"] for a in host.audit] == ["ok"]
        assert host.log == ["prepare", "replace", "gate", "finalize"]


def test_nothing_to_do_is_two_steps_and_no_change() -> None:
    fleet = Fleet(running="reg/web:v2")
    report = fleet.run(play())
    assert report.exit_code == EXIT_OK and set(statuses(report).values()) == {"ok"}
    assert all(h.log == ["prepare", "finalize"] for h in fleet.hosts.values())
    assert all(h.audit == [] and h.lock is None for h in fleet.hosts.values())


def test_a_host_with_nothing_left_to_do_is_let_go_at_once_a_changed_one_kept() -> None:
    """A no-op host's connection is closed as soon as it is finalized (at 1,000 hosts the
    open transports' threads starved the run); a changed one stays for the summary."""
    fleet = Fleet(running="reg/web:v2")
    fleet.hosts["h3"].boxes.clear()
    fleet.hosts["h3"].run_as(spec("reg/web:v1"))
    report = fleet.run(play())
    assert statuses(report) == {"h1": "ok", "h2": "ok", "h3": "changed"}
    assert {n: e.closed for n, e in fleet.engines.items()} == {
        "h1": True,
        "h2": True,
        "h3": False,
    }


def test_first_deploy_creates() -> None:
    fleet = Fleet(running=None)
    report = fleet.run(play())
    assert report.exit_code == EXIT_OK
    assert [c.action for h in report.hosts for c in h.containers] == ["create"] * 3


# ---------------------------------------------------------------- each step failing


def test_pull_failure_changes_nothing_and_unlocks() -> None:
    fleet = Fleet()
    fleet.hosts["h2"].fail.add("pull")
    report = fleet.run(play())
    assert report.exit_code == EXIT_FAILED
    assert statuses(report)["h2"] == "failed" and "pull failed" in report.hosts[1].reason
    assert fleet.live("h2").id == fleet.v1["h2"] and fleet.live("h2").running
    assert fleet.hosts["h2"].log == ["prepare", "finalize"] and fleet.locks()["h2"] is None
    assert fleet.images()["h1"] == "reg/web:v2"  # the others went on


@pytest.mark.parametrize("fault", ["start", "unhealthy", "gate-raises", "late"])
def test_a_failed_replace_brings_the_previous_version_back(fault: str) -> None:
    fleet = Fleet()
    fleet.hosts["h1"].fail.add(fault)
    report = fleet.run(play())
    h1 = report.hosts[0]
    assert report.exit_code == EXIT_FAILED and h1.status == "failed", h1
    assert fleet.live("h1").id == fleet.v1["h1"] and fleet.live("h1").running  # the same container
    assert [b.image for b in fleet.hosts["h1"].boxes.values()] == [
        "reg/web:v1"
    ]  # nothing else left
    assert fleet.hosts["h1"].log[-2:] == ["restore", "finalize"] and fleet.locks()["h1"] is None
    assert fleet.hosts["h1"].audit[-1]["outcome"] == "rolled back"
    assert h1.containers[0].rolled_back and h1.containers[0].health == "failed"


def test_a_failed_first_deploy_leaves_no_container() -> None:
    fleet = Fleet(running=None)
    fleet.hosts["h1"].fail.add("unhealthy")
    report = fleet.run(play())
    assert statuses(report)["h1"] == "failed" and fleet.hosts["h1"].boxes == {}
    assert "nothing ran before" in report.hosts[0].reason


def test_a_failed_restore_says_so_plainly_and_still_unlocks() -> None:
    fleet = Fleet()
    fleet.hosts["h1"].fail |= {"unhealthy", "restore-raises"}
    report = fleet.run(play())
    assert "ROLLBACK NOT DONE" in report.hosts[0].reason and "guard" in report.hosts[0].reason
    assert fleet.locks()["h1"] is None and fleet.hosts["h1"].audit[-1]["outcome"] == "failed"


def test_a_failed_finalize_fails_the_host() -> None:
    fleet = Fleet()
    fleet.hosts["h3"].fail.add("finalize")
    report = fleet.run(play())
    assert statuses(report)["h3"] == "failed" and "No space left" in report.hosts[2].reason


def test_a_bug_on_one_host_fails_it_and_leaks_no_lock() -> None:
    fleet = Fleet()
    fleet.hosts["h2"].fail.add("gate-bug")
    report = fleet.run(play())
    assert statuses(report) == {"h1": "changed", "h2": "failed", "h3": "changed"}
    assert "internal error" in report.hosts[1].reason
    assert fleet.locks() == {"h1": None, "h2": None, "h3": None}
    # a bug in the gate is a failed gate: the old version is back before the lock goes
    assert fleet.live("h2").id == fleet.v1["h2"] and fleet.live("h2").running
    assert fleet.hosts["h2"].log[-2:] == ["restore", "finalize"]


def test_an_unreachable_host_does_not_stop_the_others() -> None:
    fleet = Fleet()
    fleet.hosts["h2"].fail.add("unreachable")
    report = fleet.run(play())
    assert report.exit_code == EXIT_UNREACHABLE
    assert statuses(report) == {"h1": "changed", "h2": "unreachable", "h3": "changed"}


# ---------------------------------------------------------------- locks


def other_lock(host: FakeHost, run: str = "other-run") -> None:
    host.lock = {
        "info": json.dumps({"who": "alice@elsewhere", "run": run}),
        "prio": "0",
        "run": run,
    }


def test_a_lock_held_elsewhere_changes_nothing_and_gives_ours_back() -> None:
    fleet = Fleet()
    other_lock(fleet.hosts["h2"])
    report = fleet.run(play())
    assert report.exit_code == EXIT_LOCKED and report.locked
    assert set(statuses(report).values()) == {"skipped"}  # the held host too: it was not touched
    assert "alice@elsewhere" in report.hosts[1].reason
    assert fleet.images() == {"h1": "reg/web:v1", "h2": "reg/web:v1", "h3": "reg/web:v1"}
    assert fleet.locks()["h1"] is None and fleet.locks()["h3"] is None
    assert fleet.locks()["h2"]["run"] == "other-run"  # never another run's lock
    assert all("replace" not in h.log for h in fleet.hosts.values())


def test_a_younger_run_gives_its_locks_back_while_its_other_hosts_still_pull() -> None:
    """Review finding: the older run waits only a little on a younger run's lock, so the
    younger must release at once, not after its slowest pull."""
    import time

    fleet = Fleet()
    other_lock(fleet.hosts["h1"])
    seen: list[bool] = []

    def slow_pull() -> None:  # h2 holds our lock and pulls for a while
        deadline = time.monotonic() + 2
        while fleet.hosts["h2"].lock is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(fleet.hosts["h2"].lock is None)

    fleet.hosts["h2"].on["pull"] = slow_pull
    fleet.hosts["h1"].on["prepare"] = lambda: time.sleep(0.3)  # h2 is pulling when h1 answers
    report = fleet.run(play(hosts=("h1", "h2")), forks=2)
    assert report.exit_code == EXIT_LOCKED
    assert seen == [True]  # given back while the pull was still running
    assert fleet.locks()["h2"] is None and fleet.locks()["h1"]["run"] == "other-run"


def test_a_host_not_started_when_an_older_run_is_met_takes_no_lock() -> None:
    fleet = Fleet()
    other_lock(fleet.hosts["h1"])
    report = fleet.run(play(), forks=1)  # one at a time: h2 and h3 come after h1's answer
    assert report.exit_code == EXIT_LOCKED
    assert fleet.hosts["h2"].log == [] and fleet.hosts["h3"].log == []


def test_lock_wait_retries_the_whole_play_once_the_holder_is_gone() -> None:
    fleet = Fleet()
    other_lock(fleet.hosts["h2"])
    attempts: list[int] = []

    def holder_ends() -> None:
        attempts.append(1)
        if len(attempts) == 2:  # the other run finishes while we wait
            fleet.hosts["h2"].lock = None

    fleet.hosts["h2"].on["prepare"] = holder_ends
    report = fleet.run(play(), lock_wait=10)
    assert report.exit_code == EXIT_OK, [(h.name, h.status, h.reason) for h in report.hosts]
    assert len(attempts) == 2 and set(fleet.images().values()) == {"reg/web:v2"}


def test_lock_wait_runs_out() -> None:
    fleet = Fleet()
    other_lock(fleet.hosts["h1"])
    report = fleet.run(play(), lock_wait=0.5)
    assert report.exit_code == EXIT_LOCKED and fleet.locks()["h2"] is None


def test_a_lock_held_in_a_later_play_keeps_the_earlier_plays_work() -> None:
    fleet = Fleet()
    other_lock(fleet.hosts["h3"])
    report = fleet.run(play(hosts=("h1", "h2"), name="first"), play(hosts=("h3",), name="second"))
    assert report.exit_code == EXIT_LOCKED
    assert [(h.name, h.play, h.status) for h in report.hosts] == [
        ("h1", "first", "changed"),
        ("h2", "first", "changed"),
        ("h3", "second", "skipped"),
    ]
    assert fleet.images()["h1"] == "reg/web:v2" and fleet.locks()["h1"] is None


def test_check_mode_takes_no_lock_and_changes_nothing() -> None:
    fleet = Fleet()
    other_lock(fleet.hosts["h1"])
    report = fleet.run(play(), check=True)
    assert report.exit_code == EXIT_OK and set(statuses(report).values()) == {"changed"}
    assert all(h.log == ["prepare"] for h in fleet.hosts.values())


# ---------------------------------------------------------------- batches and interrupts


def test_max_fail_percentage_stops_the_rollout_after_a_bad_batch() -> None:
    fleet = Fleet()
    fleet.hosts["h1"].fail.add("unhealthy")
    report = fleet.run(play(serial=(1,), max_fail_percentage=0))
    assert statuses(report) == {"h1": "failed", "h2": "skipped", "h3": "skipped"}
    assert "rollout stopped: 1/1 hosts failed in batch 1" in report.hosts[1].reason
    assert fleet.images() == {"h1": "reg/web:v1", "h2": "reg/web:v1", "h3": "reg/web:v1"}
    assert fleet.locks() == {"h1": None, "h2": None, "h3": None}


def test_a_failure_within_the_allowed_percentage_goes_on() -> None:
    fleet = Fleet()
    fleet.hosts["h1"].fail.add("unhealthy")
    report = fleet.run(play(serial=(1,), max_fail_percentage=100))
    assert statuses(report) == {"h1": "failed", "h2": "changed", "h3": "changed"}


def test_without_max_fail_percentage_only_a_whole_failed_batch_stops() -> None:
    fleet = Fleet()
    fleet.hosts["h1"].fail.add("unhealthy")
    report = fleet.run(play(serial=(2,)))  # h1 fails, h2 is fine: the batch did not all fail
    assert statuses(report) == {"h1": "failed", "h2": "changed", "h3": "changed"}


def test_an_interrupt_finishes_the_host_in_flight_and_starts_no_other() -> None:
    fleet = Fleet()
    opts = Options(forks=1)
    fleet.hosts["h1"].on["gate"] = opts.cancel.set  # Ctrl-C while h1 waits for health
    report = Rollout(Playbook("site.yml", (play(serial=(1,)),)), opts, fleet.connect).run()
    assert report.exit_code == EXIT_INTERRUPTED and report.interrupted
    assert statuses(report) == {"h1": "changed", "h2": "skipped", "h3": "skipped"}
    assert fleet.images() == {"h1": "reg/web:v2", "h2": "reg/web:v1", "h3": "reg/web:v1"}
    assert fleet.locks() == {"h1": None, "h2": None, "h3": None}


def test_an_interrupt_before_any_batch_changes_nothing_and_unlocks() -> None:
    fleet = Fleet()
    opts = Options()
    fleet.hosts["h3"].on["prepare"] = opts.cancel.set
    report = Rollout(Playbook("site.yml", (play(),)), opts, fleet.connect).run()
    assert report.exit_code == EXIT_INTERRUPTED
    assert set(statuses(report).values()) == {"skipped"}
    assert fleet.locks() == {"h1": None, "h2": None, "h3": None}
    assert set(fleet.images().values()) == {"reg/web:v1"}


# ---------------------------------------------------------------- rollback


def test_rollback_brings_the_retained_version_back() -> None:
    fleet = Fleet()
    assert fleet.run(play()).exit_code == EXIT_OK
    report = fleet.run(play(), rollback=True)
    assert report.exit_code == EXIT_OK
    assert fleet.images() == {"h1": "reg/web:v1", "h2": "reg/web:v1", "h3": "reg/web:v1"}
    assert all(fleet.live(n).id == fleet.v1[n] for n in NAMES)


def test_rollback_with_nothing_retained_fails_and_changes_nothing() -> None:
    fleet = Fleet()
    report = fleet.run(play(), rollback=True)
    assert report.exit_code == EXIT_FAILED
    assert all("no retained previous version" in h.reason for h in report.hosts)
    assert all("swap" not in h.log for h in fleet.hosts.values())


# ---------------------------------------------------------------- host-level upkeep (the proxy)


def test_a_proxy_that_needs_work_is_done_even_when_no_container_changes() -> None:
    """A new proxy image or certificate was applied only when an app changed: a no-op run
    left the old certificate served (review of proxy mode, defect 6)."""
    fleet = Fleet(running="reg/web:v2")
    fleet.hosts["h1"].upkeep = ("proxy: TLS certificate changed, to be reloaded",)
    report = fleet.run(play())
    assert statuses(report) == {"h1": "changed", "h2": "ok", "h3": "ok"}
    assert fleet.hosts["h1"].log == ["prepare", "upkeep", "finalize"]
    assert report.hosts[0].upkeep == ["proxy: TLS certificate changed, to be reloaded"]
    assert report.to_json()["hosts"][0]["upkeep"] == report.hosts[0].upkeep
    assert fleet.run(play()).exit_code == EXIT_OK and fleet.hosts["h1"].log[-2:] == [
        "prepare",
        "finalize",
    ]


def test_check_mode_says_what_the_proxy_needs_and_does_nothing() -> None:
    fleet = Fleet(running="reg/web:v2")
    fleet.hosts["h1"].upkeep = ("proxy: stopped, to be started",)
    report = fleet.run(play(), check=True)
    assert statuses(report)["h1"] == "changed" and fleet.hosts["h1"].log == ["prepare"]


def test_a_failed_proxy_upkeep_fails_the_host_before_any_container_and_unlocks() -> None:
    fleet = Fleet()
    fleet.hosts["h1"].upkeep = ("proxy: to be replaced (caddy:9, ports or TLS changed)",)
    fleet.hosts["h1"].fail.add("upkeep")
    report = fleet.run(play())
    assert report.exit_code == EXIT_FAILED
    h1 = report.hosts[0]
    assert h1.status == "failed" and h1.reason.startswith(
        "host upkeep: the new proxy did not start"
    )
    assert fleet.hosts["h1"].log == ["prepare", "upkeep", "finalize"]
    assert fleet.images()["h1"] == "reg/web:v1" and fleet.locks()["h1"] is None


# ---------------------------------------------------------------- restart / stop / start (issue 17)


def test_restart_goes_batch_by_batch_through_the_gate_and_is_audited_without_a_pull() -> None:
    fleet = Fleet(running="reg/web:v1")
    report = fleet.run(play(image="reg/web:v2", serial=(1,)), operation="restart")
    assert report.exit_code == EXIT_OK
    assert fleet.images() == {"h1": "reg/web:v1", "h2": "reg/web:v1", "h3": "reg/web:v1"}
    for host in fleet.hosts.values():
        assert host.log == ["prepare", "restart", "finalize"]  # no replace: the version stays
        assert [a["action"] for a in host.audit] == ["restart"] and host.lock is None
    assert [c.new_image for h in report.hosts for c in h.containers] == ["reg/web:v1"] * 3


def test_a_restart_that_fails_its_gate_fails_the_host_and_stops_the_batches() -> None:
    fleet = Fleet()
    fleet.hosts["h1"].fail.add("unhealthy")
    report = fleet.run(play(serial=(1,)), operation="restart")
    assert statuses(report) == {"h1": "failed", "h2": "skipped", "h3": "skipped"}
    assert fleet.hosts["h2"].log == ["prepare", "finalize"]


def test_stop_then_start() -> None:
    fleet = Fleet()
    assert fleet.run(play(), operation="stop").exit_code == EXIT_OK
    assert fleet.images() == {"h1": None, "h2": None, "h3": None}
    again = fleet.run(play(), operation="stop")
    assert set(statuses(again).values()) == {"ok"}  # nothing runs: nothing to stop
    assert fleet.run(play(), operation="start").exit_code == EXIT_OK
    assert fleet.images() == {"h1": "reg/web:v1", "h2": "reg/web:v1", "h3": "reg/web:v1"}


def test_progress_events_reach_the_printer_set_after_the_rollout_is_made() -> None:
    """The CLI sets options.on_event once the rollout exists (the live board, the progress
    printer): every event, the host's changes' too, goes to it."""
    fleet = Fleet()
    events: list[tuple[str, str]] = []
    rollout = Rollout(Playbook("site.yml", (play(),)), Options(), fleet.connect)
    rollout.opts.on_event = lambda host, msg: events.append((host, msg))
    assert rollout.run().exit_code == EXIT_OK
    said = [m for h, m in events if h == "h1"]
    assert any("waiting for health" in m for m in said), said
    assert any(m.startswith("web: healthy") for m in said), said


def test_the_engine_path_is_in_each_outcome_and_a_fallback_is_said() -> None:
    """hosts[].engine in the report; a progress line only when the API path was wanted
    (auto, no become) and the host fell back to the CLI."""
    fleet = Fleet()
    paths = {
        "h2": "cli (stream-local forwarding refused by the server)",
        "h3": "cli (deployer_engine_api: off)",
    }

    def connect(conn: HostConn) -> FakeEngine:
        engine = fleet.connect(conn)
        engine.path = paths.get(conn.name, "api")
        return engine

    p = play()
    conns = tuple(replace(c, engine_api="off") if c.name == "h3" else c for c in p.hosts)
    events: list[tuple[str, str]] = []
    rollout = Rollout(Playbook("site.yml", (replace(p, hosts=conns),)), Options(), connect)
    rollout.opts.on_event = lambda host, msg: events.append((host, msg))
    report = rollout.run()
    assert {h.name: h.engine for h in report.hosts} == {"h1": "api", **paths}
    said = [(h, m) for h, m in events if m.startswith("engine:")]
    assert said == [("h2", "engine: cli (stream-local forwarding refused by the server)")]
    assert report.to_json()["hosts"][1]["engine"] == paths["h2"]
