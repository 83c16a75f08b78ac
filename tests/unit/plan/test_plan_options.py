"""plan/ with the container options: a changed option replaces the container and --diff
says which (also one taken away); a privileged container says so whenever it is started."""

from __future__ import annotations

from deployer.model import (
    ContainerSpec,
    Facts,
    LogConfig,
    Observed,
    RunOptions,
    spec_hash,
    spec_public,
)
from deployer.plan import plan_host

IMG = "sha256:" + "1" * 64


def web(**options: object) -> ContainerSpec:
    return ContainerSpec("web", "nginx:1.25", options=RunOptions(**options))  # type: ignore[arg-type]


def host_running(spec: ContainerSpec) -> Facts:
    live = Observed(
        id="c1",
        name="web",
        image=spec.image,
        image_id=IMG,
        labels={},
        logical="web",
        managed=True,
        spec_hash=spec_hash(spec),
        spec=spec_public(spec),
        status="running",
        running=True,
    )
    return Facts(containers=[live], images={})


def changes(old: ContainerSpec, new: ContainerSpec) -> tuple[str, ...]:
    (action,) = plan_host((new,), host_running(old))
    assert action.kind == ("replace" if action.changes else "noop")
    return action.changes


def test_the_same_options_are_a_noop() -> None:
    s = web(memory="512m", cpus="1.5", log=LogConfig("local"))
    assert changes(s, s) == ()


def test_pull_alone_changes_nothing() -> None:
    assert changes(web(pull="always"), web(pull="never")) == ()


def test_a_changed_option_is_named() -> None:
    assert changes(web(memory="512m"), web(memory="1g")) == ("memory: 512m -> 1g",)
    assert changes(web(), web(user="app")) == ("user: null -> app",)


def test_an_option_taken_away_is_named_too() -> None:
    assert changes(web(read_only=True, cpus="2"), web(cpus="2")) == ("read_only: true -> null",)


def test_a_new_privileged_container_is_marked() -> None:
    (action,) = plan_host((web(privileged=True),), Facts(containers=[], images={}))
    assert action.changes == ("new container", "privileged: true (full access to the host)")
    (plain,) = plan_host((web(),), Facts(containers=[], images={}))
    assert plain.changes == ("new container",)


def test_a_replaced_privileged_container_is_marked_once() -> None:
    assert changes(web(), web(privileged=True)) == ("privileged: null -> true",)
    assert changes(web(privileged=True), web(privileged=True, memory="1g")) == (
        "memory: null -> 1g",
        "privileged: true (full access to the host)",
    )
    assert changes(web(privileged=True), web()) == ("privileged: true -> null",)
    assert changes(web(privileged=True), web(privileged=True)) == ()
