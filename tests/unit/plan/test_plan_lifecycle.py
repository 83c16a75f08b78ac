"""plan/lifecycle.py: state: absent and --prune-undeclared (remove), replace: on_change |
never, depends_on order. Tables over plain facts, no SSH."""

from __future__ import annotations

from typing import Any

import pytest

from deployer.docker.proxy import PROXY_NAME
from deployer.model import (
    ContainerSpec,
    Facts,
    HostConn,
    ImageInfo,
    Observed,
    Play,
    Playbook,
    Secret,
    secret_digest,
    spec_hash,
    spec_public,
)
from deployer.plan import Action
from deployer.plan.lifecycle import (
    ABSENT,
    PROXY_CONTAINER,
    UNDECLARED,
    declared,
    order,
    plan_absent,
    plan_deploy,
    plan_undeclared,
    undeclared,
    with_policy,
)

V1, V2 = "reg/app:v1", "reg/app:v2"
IMG1, IMG2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
NONCE = "n0nce"


def box(
    spec: ContainerSpec,
    cid: str,
    *,
    name: str | None = None,
    status: str = "running",
    created: str = "2024-01-02",
    image_id: str = IMG1,
    recorded: dict[str, Any] | None = None,
) -> Observed:
    """A deployer-managed container as the facts report it, started from SPEC."""
    return Observed(
        id=cid,
        name=name or spec.name,
        image=spec.image,
        image_id=image_id,
        labels={},
        logical=spec.name,
        managed=True,
        spec_hash=spec_hash(spec),
        spec=recorded if recorded is not None else spec_public(spec),
        status=status,
        running=status == "running",
        created=created,
        started_at="2024-01-01T00:00:00Z",
    )


def facts(*containers: Observed, secrets: dict[str, dict[str, str]] | None = None) -> Facts:
    images = {V1: ImageInfo(IMG1), V2: ImageInfo(IMG2)}
    return Facts(list(containers), images, {i.id: i for i in images.values()}, secrets or {})


def app(**kw: Any) -> ContainerSpec:
    return ContainerSpec(**{"name": "app", "image": V1, "stop_timeout": 5, **kw})


# ---------------------------------------------------------------- state: absent


def test_absent_with_nothing_there_is_a_noop_without_lines() -> None:
    other = box(app(name="web"), "w1")
    assert plan_absent(app(state="absent"), facts(other)) == Action(
        "noop", app(state="absent"), None
    )


def test_absent_removes_the_live_one_and_every_retained_version_live_first() -> None:
    live = box(app(), "c3", created="2024-01-03")
    old = box(app(), "c1", name="app_prev_c1", status="exited", created="2024-01-01")
    newer = box(app(), "c2", name="app_prev_c2", status="exited", created="2024-01-02")
    temp = box(app(), "c4", name="app_next_x-1", status="created", created="2024-01-04")
    other = box(app(name="web"), "w1")
    action = plan_absent(app(state="absent", stop_timeout=10), facts(old, live, other, newer, temp))
    assert action.kind == "remove" and action.current == live
    assert [c.id for c in action.remove] == ["c3", "c4", "c2", "c1"]
    assert action.changes == (
        ABSENT,
        f"remove: app (live, running, {V1})",
        f"remove: app_next_x-1 (retained, {V1})",
        f"remove: app_prev_c2 (retained, {V1})",
        f"remove: app_prev_c1 (retained, {V1})",
    )
    assert action.spec.stop_timeout == 5  # the one the live container was deployed with
    assert not undeclared(action)


def test_absent_with_only_retained_versions_removes_them() -> None:
    old = box(app(), "c1", name="app_prev_c1", status="exited")
    action = plan_absent(app(state="absent"), facts(old))
    assert (action.kind, action.current, [c.id for c in action.remove]) == ("remove", None, ["c1"])


def test_a_deploy_plans_present_and_absent_containers_in_declared_order() -> None:
    web = app(name="web")
    got = plan_deploy(
        [app(state="absent"), web], facts(box(app(), "c1"), box(web, "w1")), nonce=NONCE
    )
    assert [(a.kind, a.spec.name) for a in got] == [("remove", "app"), ("noop", "web")]
    # nothing of it left: a no-op, like any unchanged container
    again = plan_deploy([app(state="absent"), web], facts(box(web, "w1")), nonce=NONCE)
    assert [(a.kind, a.changed) for a in again] == [("noop", False), ("noop", False)]


# ---------------------------------------------------------------- replace: always | on_change | never


def running(spec: ContainerSpec, **kw: Any) -> Facts:
    return facts(box(spec, "c1", **kw))


CHANGED = app(image=V2)  # its own spec changed: the image reference
CASES = [
    # policy, desired, what the host runs, force -> kind, first line
    ("always", CHANGED, running(app()), False, "replace", f"image: {V1} -> {V2}"),
    ("on_change", CHANGED, running(app()), False, "replace", f"image: {V1} -> {V2}"),
    ("never", CHANGED, running(app()), False, "noop", "spec changed, not replaced: replace: never"),
    ("always", app(), running(app()), True, "replace", "--force"),
    ("on_change", app(), running(app()), True, "noop", "not replaced: replace: on_change"),
    ("never", app(), running(app()), True, "noop", "not replaced: replace: never"),
    # a new build of the same tag is not its own spec changing
    ("always", app(), running(app(), image_id=IMG2), False, "replace", f"image: {V1} has a new build"),
    ("on_change", app(), running(app(), image_id=IMG2), False, "noop", "not replaced: replace: on_change"),
    ("always", app(), running(app(), status="exited"), False, "replace", "container is exited"),
    ("on_change", app(), running(app(), status="exited"), False, "noop", "not replaced: replace: on_change"),
    ("never", app(), running(app(), status="exited"), False, "noop", "not replaced: replace: never"),
    # missing: started, whatever the policy
    ("on_change", app(), facts(), False, "create", "new container"),
    ("never", app(), facts(), False, "create", "new container"),
    ("never", app(), running(app()), False, "noop", None),
    ("on_change", app(), running(app()), False, "noop", None),
]  # fmt: skip


@pytest.mark.parametrize("policy,want,host,force,kind,line", CASES)
def test_replace_policy(
    policy: str, want: ContainerSpec, host: Facts, force: bool, kind: str, line: str | None
) -> None:
    spec = ContainerSpec(**{**want.__dict__, "replace": policy})
    (action,) = plan_deploy([spec], host, force=force, nonce=NONCE)
    assert action.kind == kind, action
    if line is None:
        assert action.changes == ()
    elif kind == "noop":  # the change left alone is said first, then what it was
        assert action.changes[0] == line and len(action.changes) >= 2, action.changes
    else:
        assert any(c.startswith(line) for c in action.changes), action.changes


def test_never_keeps_the_drift_visible_line_by_line() -> None:
    spec = app(image=V2, replace="never", env=(("A", "1"),))
    (action,) = plan_deploy([spec], running(app()), nonce=NONCE)
    assert action.kind == "noop" and not action.changed
    assert action.changes == (
        "spec changed, not replaced: replace: never",
        f"image: {V1} -> {V2}",
        "env: A changed",
    )


def test_on_change_replaces_for_a_changed_secret_value() -> None:
    spec = app(replace="on_change", secret_env=(("PW", Secret("env:PW", "new")),))
    had = {"app": {"PW": secret_digest(NONCE, "old")}}
    (action,) = plan_deploy([spec], facts(box(spec, "c1"), secrets=had), nonce=NONCE)
    assert action.kind == "replace" and action.changes == ("secret_env: PW changed",)
    same = {"app": {"PW": secret_digest(NONCE, "new")}}
    (kept,) = plan_deploy([spec], facts(box(spec, "c1"), secrets=same), nonce=NONCE)
    assert kept.kind == "noop"


def test_a_privileged_mark_is_not_a_reason_to_keep() -> None:
    from deployer.model import RunOptions

    spec = app(replace="never", options=RunOptions(privileged=True))
    (action,) = plan_deploy([spec], running(app(options=RunOptions(privileged=True))), force=True)
    assert action.kind == "noop"
    assert not any(c.startswith("privileged: true") for c in action.changes), action.changes


def test_with_policy_leaves_other_actions_alone() -> None:
    create = Action("create", app(replace="never"), None, ("new container",))
    assert with_policy(create, facts(), NONCE) is create


# ---------------------------------------------------------------- --prune-undeclared


def test_undeclared_names_are_removed_with_their_retained_versions() -> None:
    web, old, gone = app(name="web"), app(name="old", image=V2), app(name="gone")
    host = facts(
        box(web, "w1"),
        box(old, "o2", created="2024-01-02"),
        box(old, "o1", name="old_prev_o1", status="exited", created="2024-01-01"),
        box(gone, "g1", name="gone_prev_g1", status="exited"),
    )
    got = plan_undeclared(host, {"web"})
    assert [(a.spec.name, [c.id for c in a.remove]) for a in got] == [
        ("old", ["o2", "o1"]),
        ("gone", ["g1"]),
    ]
    assert all(undeclared(a) and a.changes[0] == UNDECLARED for a in got)
    assert got[0].spec.image == V2 and got[0].current is not None and got[0].current.id == "o2"
    assert got[1].current is None and got[1].spec.image == V1  # only a retained one: its image


def test_prune_never_touches_the_proxy_nor_unmanaged_containers() -> None:
    assert PROXY_CONTAINER == PROXY_NAME
    proxy = box(app(name=PROXY_CONTAINER), "p1")
    aside = box(app(name=PROXY_CONTAINER), "p0", name="deployer-proxy-old", status="exited")
    hand = Observed(
        id="h1", name="byhand", image=V1, image_id=IMG1, labels={}, managed=False, status="running"
    )
    assert plan_undeclared(facts(proxy, aside, hand), set()) == []


def test_a_deploy_prunes_only_when_asked_and_never_what_it_declares_absent() -> None:
    web, old = app(name="web"), app(name="old")
    host = facts(box(web, "w1"), box(old, "o1"), box(app(), "a1"))
    wanted = [web, app(state="absent")]
    plain = plan_deploy(wanted, host, nonce=NONCE)
    assert [(a.kind, a.spec.name) for a in plain] == [("noop", "web"), ("remove", "app")]
    pruned = plan_deploy(wanted, host, nonce=NONCE, declared={"web", "app", "other"})
    assert [(a.kind, a.spec.name, undeclared(a)) for a in pruned] == [
        ("noop", "web", False),
        ("remove", "app", False),
        ("remove", "old", True),
    ]
    # declared by another play for this host: left alone
    assert len(plan_deploy(wanted, host, nonce=NONCE, declared={"old"})) == 2


def test_declared_joins_every_play_of_the_playbook_per_host() -> None:
    h1, h2 = HostConn("h1", "10.0.0.1"), HostConn("h2", "10.0.0.2")
    book = Playbook(
        "site.yml",
        (
            Play("a", (h1, h2), {"h1": (app(),), "h2": (app(),)}),
            Play("b", (h1,), {"h1": (app(name="db", state="absent"),)}),
        ),
    )
    assert declared(book) == {"h1": frozenset({"app", "db"}), "h2": frozenset({"app"})}


# ---------------------------------------------------------------- depends_on


def act(name: str, *deps: str) -> Action:
    return Action("create", app(name=name, depends_on=deps), None)


@pytest.mark.parametrize(
    "actions,want",
    [
        ([act("app", "db"), act("db")], ["db", "app"]),
        ([act("a", "b"), act("b", "c"), act("c")], ["c", "b", "a"]),
        ([act("web"), act("app", "db", "cache"), act("cache"), act("db", "cache")], ["web", "cache", "db", "app"]),
        ([act("x"), act("y"), act("z")], ["x", "y", "z"]),  # stable without depends_on
        ([act("a", "elsewhere"), act("b")], ["a", "b"]),  # a name not on this host: ignored
        ([act("a", "b"), act("b", "a"), act("c")], ["c", "a", "b"]),  # a cycle: the rest, then as declared
        ([act("a", "a"), act("b")], ["a", "b"]),
    ],
)  # fmt: skip
def test_depends_on_orders_a_hosts_actions(actions: list[Action], want: list[str]) -> None:
    assert [a.spec.name for a in order(actions)] == want


def test_a_deploy_creates_dependencies_first() -> None:
    specs = [app(name="app", depends_on=("db",)), app(name="db")]
    assert [a.spec.name for a in plan_deploy(specs, facts(), nonce=NONCE)] == ["db", "app"]
