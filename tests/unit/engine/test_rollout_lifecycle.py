"""The rollout with the lifecycle keys against in-memory engines: state: absent removes and
audits, a no-op stays 2 steps, --prune-undeclared asks (or is told yes) before it removes,
replace: never / on_change leave a container alone, depends_on orders a host's work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fake import Box, FakeEngine, FakeHost

from deployer.engine.removal import Removal
from deployer.engine.rollout import Options, Rollout
from deployer.errors import EXIT_FAILED, EXIT_NOT_CONFIRMED, EXIT_OK
from deployer.model import (
    ContainerSpec,
    HealthSpec,
    HostConn,
    Play,
    Playbook,
    spec_hash,
    spec_public,
)

HEALTH = HealthSpec("http", 80, timeout=5)
NAMES = ("h1", "h2")


def spec(name: str = "web", image: str = "reg/web:v1", **kw: Any) -> ContainerSpec:
    return ContainerSpec(name=name, image=image, health=HEALTH, **kw)


def play(*specs: ContainerSpec, hosts: tuple[str, ...] = NAMES, name: str = "site") -> Play:
    conns = tuple(HostConn(n, f"10.0.0.{i}") for i, n in enumerate(hosts, 1))
    return Play(name=name, hosts=conns, containers={n: specs for n in hosts})


def retained(host: FakeHost, s: ContainerSpec, cid: str) -> Box:
    """An older version of S kept for rollback, as a replace leaves it."""
    box = Box(cid, f"{s.name}_prev_{cid}", s.name, s.image, spec_hash(s), spec_public(s))
    box.ever_ran = True
    host.boxes[box.id] = box
    return box


class Fleet:
    def __init__(self, names: tuple[str, ...] = NAMES):
        self.hosts = {n: FakeHost(n) for n in names}
        self.engines: dict[str, FakeEngine] = {}

    def connect(self, conn: HostConn) -> FakeEngine:
        self.engines[conn.name] = FakeEngine(conn, self.hosts[conn.name])
        return self.engines[conn.name]

    def run(self, *plays: Play, **opts: Any) -> Any:
        for h in self.hosts.values():
            h.log.clear()
        return Rollout(Playbook("site.yml", plays), Options(**opts), self.connect).run()

    def names(self, host: str) -> list[str]:
        return sorted(b.name for b in self.hosts[host].boxes.values())


def statuses(report: Any) -> dict[str, str]:
    return {h.name: h.status for h in report.hosts}


# ---------------------------------------------------------------- state: absent


def test_absent_removes_live_and_retained_after_one_audit_record_then_is_a_noop() -> None:
    fleet = Fleet()
    for h in fleet.hosts.values():
        h.run_as(spec(image="reg/web:v2"))
        retained(h, spec(image="reg/web:v1"), f"old{h.name}")
        h.run_as(spec("db", "reg/db:1"))
    gone = play(spec(state="absent"), spec("db", "reg/db:1"))
    report = fleet.run(gone)
    assert report.exit_code == EXIT_OK and set(statuses(report).values()) == {"changed"}
    for n, h in fleet.hosts.items():
        assert fleet.names(n) == ["db"]  # the other container stays
        assert h.log == ["prepare", "remove", "finalize"] and h.lock is None
        (record,) = h.audit  # one record per container removed, with the images
        assert record["action"] == "remove" and record["container"] == "web"
        assert record["outcome"] == "ok" and record["old_image"] == "reg/web:v2"
        assert record["new_image"] is None and record["detail"] == "state: absent"
        assert [(r["name"], r["image"]) for r in record["removed"]] == [
            ("web", "reg/web:v2"),
            (f"web_prev_old{n}", "reg/web:v1"),
        ]
    web = report.hosts[0].containers[0]
    assert (web.action, web.old_image, web.new_image, web.error) == (
        "remove",
        "reg/web:v2",
        None,
        None,
    )
    again = fleet.run(gone)
    assert set(statuses(again).values()) == {"ok"}
    assert all(h.log == ["prepare", "finalize"] and len(h.audit) == 1 for h in fleet.hosts.values())
    assert [c.action for c in again.hosts[0].containers] == ["noop", "noop"]


def test_check_shows_the_removal_and_changes_nothing() -> None:
    fleet = Fleet(("h1",))
    fleet.hosts["h1"].run_as(spec())
    report = fleet.run(play(spec(state="absent"), hosts=("h1",)), check=True)
    (c,) = report.hosts[0].containers
    assert c.action == "remove" and c.changes[0] == "state: absent"
    assert any(line.startswith("remove: web (live") for line in c.changes), c.changes
    assert fleet.names("h1") == ["web"] and fleet.hosts["h1"].log == ["prepare"]


def test_a_removal_whose_route_cannot_go_removes_nothing_and_fails_the_host() -> None:
    fleet = Fleet(("h1",))
    fleet.hosts["h1"].run_as(spec())
    fleet.hosts["h1"].fail.add("remove-route")
    report = fleet.run(play(spec(state="absent"), hosts=("h1",)))
    assert report.exit_code == EXIT_FAILED and "not removed" in report.hosts[0].reason
    assert fleet.names("h1") == ["web"]
    assert [a["outcome"] for a in fleet.hosts["h1"].audit] == ["failed"]  # said in finalize
    assert fleet.hosts["h1"].lock is None


def test_a_removal_that_fails_after_its_record_adds_a_failed_one() -> None:
    fleet = Fleet(("h1",))
    fleet.hosts["h1"].run_as(spec())
    fleet.hosts["h1"].fail.add("remove")
    report = fleet.run(play(spec(state="absent"), hosts=("h1",)))
    assert report.exit_code == EXIT_FAILED
    assert [a["outcome"] for a in fleet.hosts["h1"].audit] == ["ok", "failed"]


# ---------------------------------------------------------------- --prune-undeclared


class Asked:
    def __init__(self, answer: bool):
        self.answer = answer
        self.calls: list[list[Removal]] = []

    def __call__(self, removals: Sequence[Removal]) -> bool:
        self.calls.append(list(removals))
        return self.answer


def undeclared_fleet() -> Fleet:
    fleet = Fleet()
    for h in fleet.hosts.values():
        h.run_as(spec())
        h.run_as(spec("old", "reg/old:3"))
        retained(h, spec("old", "reg/old:2"), f"o{h.name}")
        h.run_as(spec("api", "reg/api:1"))  # declared by the second play
    return fleet


def two_plays() -> tuple[Play, Play]:
    return play(spec()), play(spec("api", "reg/api:1"), name="api")


def test_prune_lists_every_host_once_asks_then_removes_only_the_undeclared() -> None:
    fleet = undeclared_fleet()
    asked = Asked(True)
    report = fleet.run(*two_plays(), prune_undeclared=True, confirm=asked)
    assert report.exit_code == EXIT_OK, report
    (listed,) = asked.calls  # the first play found them all; the second has nothing to ask
    assert [(r.host, r.container, r.image) for r in listed] == [
        ("h1", "old", "reg/old:3"),
        ("h1", "old_prev_oh1", "reg/old:2"),
        ("h2", "old", "reg/old:3"),
        ("h2", "old_prev_oh2", "reg/old:2"),
    ]
    for n, h in fleet.hosts.items():
        assert fleet.names(n) == ["api", "web"]
        (record,) = h.audit
        assert record["action"] == "remove" and record["container"] == "old"
        assert record["detail"].startswith("undeclared")
        assert {r["image"] for r in record["removed"]} == {"reg/old:3", "reg/old:2"}


def test_prune_declined_changes_nothing_releases_the_locks_and_exits_2() -> None:
    fleet = undeclared_fleet()
    for h in fleet.hosts.values():  # a change the run would have made too
        h.boxes = {k: b for k, b in h.boxes.items() if b.name != "web"}
    asked = Asked(False)
    report = fleet.run(*two_plays(), prune_undeclared=True, confirm=asked)
    assert report.exit_code == EXIT_NOT_CONFIRMED and report.declined
    assert len(asked.calls) == 1 and set(statuses(report).values()) == {"skipped"}
    assert [h.play for h in report.hosts] == ["site", "site"]  # no play after it started
    for n, h in fleet.hosts.items():
        assert fleet.names(n) == ["api", "old", f"old_prev_o{n}"]  # not even web was created
        assert h.log == ["prepare", "finalize"] and h.lock is None and h.audit == []


def test_prune_with_yes_asks_no_one_and_without_the_flag_nothing_goes() -> None:
    fleet = undeclared_fleet()
    plain = fleet.run(*two_plays())
    assert all(fleet.names(n) == ["api", "old", f"old_prev_o{n}", "web"] for n in NAMES)
    assert all(h.log == ["prepare", "finalize"] * 2 for h in fleet.hosts.values()), plain
    yes = fleet.run(*two_plays(), prune_undeclared=True)  # confirm None: --yes
    assert yes.exit_code == EXIT_OK
    assert all(fleet.names(n) == ["api", "web"] for n in NAMES)


def test_prune_under_check_asks_nothing_and_removes_nothing() -> None:
    fleet = undeclared_fleet()
    asked = Asked(True)
    report = fleet.run(*two_plays(), prune_undeclared=True, confirm=asked, check=True)
    assert asked.calls == [] and all(len(fleet.names(n)) == 4 for n in NAMES)
    removes = [c for c in report.hosts[0].containers if c.action == "remove"]
    assert [c.name for c in removes] == ["old"] and removes[0].changes[0].startswith("undeclared")


# ---------------------------------------------------------------- replace: never / on_change


def test_never_leaves_a_changed_container_alone_in_two_steps_and_says_so() -> None:
    fleet = Fleet(("h1",))
    box = fleet.hosts["h1"].run_as(spec("db", "reg/db:1", replace="never"))
    report = fleet.run(play(spec("db", "reg/db:2", replace="never"), hosts=("h1",)), force=True)
    assert report.exit_code == EXIT_OK and statuses(report) == {"h1": "ok"}
    assert fleet.hosts["h1"].log == ["prepare", "finalize"]
    assert fleet.hosts["h1"].live("db") is box and box.image == "reg/db:1"
    (c,) = report.hosts[0].containers
    assert c.action == "noop" and c.changes[0] == "spec changed, not replaced: replace: never"


def test_never_starts_a_missing_container() -> None:
    fleet = Fleet(("h1",))
    report = fleet.run(play(spec("db", "reg/db:2", replace="never"), hosts=("h1",)))
    assert [c.action for c in report.hosts[0].containers] == ["create"]
    assert fleet.hosts["h1"].live("db") is not None


def test_on_change_ignores_force_but_not_its_own_change() -> None:
    fleet = Fleet(("h1",))
    fleet.hosts["h1"].run_as(spec("db", "reg/db:1", replace="on_change"))
    web = spec()
    fleet.hosts["h1"].run_as(web)
    same = play(spec("db", "reg/db:1", replace="on_change"), web, hosts=("h1",))
    forced = fleet.run(same, force=True)
    assert [c.action for c in forced.hosts[0].containers] == ["noop", "replace"]  # the app only
    changed = fleet.run(play(spec("db", "reg/db:2", replace="on_change"), web, hosts=("h1",)))
    assert [c.action for c in changed.hosts[0].containers] == ["replace", "noop"]
    assert fleet.hosts["h1"].live("db").image == "reg/db:2"


def test_rollback_leaves_never_containers_alone() -> None:
    fleet = Fleet(("h1",))
    h = fleet.hosts["h1"]
    h.run_as(spec("db", "reg/db:1", replace="never"))  # no retained version: not its to roll back
    h.run_as(spec(image="reg/web:v2"))
    retained(h, spec(), "w1")
    book = play(spec("db", "reg/db:1", replace="never"), spec(image="reg/web:v2"), hosts=("h1",))
    report = fleet.run(book, rollback=True)
    assert report.exit_code == EXIT_OK, report.hosts[0].reason
    assert [c.name for c in report.hosts[0].containers] == ["web"]
    assert h.live("web").image == "reg/web:v1"


# ---------------------------------------------------------------- depends_on


def test_depends_on_starts_dependencies_first() -> None:
    fleet = Fleet(("h1",))
    report = fleet.run(play(spec("app", depends_on=("db",)), spec("db", "reg/db:1"), hosts=("h1",)))
    assert [c.name for c in report.hosts[0].containers] == ["db", "app"]
    boxes = sorted(fleet.hosts["h1"].boxes.values(), key=lambda b: b.created)
    assert [b.name for b in boxes] == ["db", "app"]


def test_a_failed_dependency_keeps_its_dependents_from_starting() -> None:
    fleet = Fleet(("h1",))
    fleet.hosts["h1"].fail.add("unhealthy")
    report = fleet.run(play(spec("app", depends_on=("db",)), spec("db", "reg/db:1"), hosts=("h1",)))
    db, app = report.hosts[0].containers
    assert (db.name, db.health) == ("db", "failed")
    assert (app.name, app.action) == ("app", "skipped")
    assert fleet.hosts["h1"].log.count("replace") == 1
