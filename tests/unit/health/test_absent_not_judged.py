"""A container with state: absent is to be removed: `health` does not call it missing."""

from __future__ import annotations

from deployer.health.gather import desired
from deployer.model import ContainerSpec, HostConn, Play, Playbook


def test_absent_containers_are_not_desired_whichever_play_says_so() -> None:
    h1 = HostConn("h1", "10.0.0.1")
    web, gone = ContainerSpec("web", "reg/web:1"), ContainerSpec("old", "", state="absent")
    book = Playbook(
        "site.yml",
        (
            Play("a", (h1,), {"h1": (web, ContainerSpec("db", "reg/db:1"))}),
            Play("b", (h1,), {"h1": (gone, ContainerSpec("db", "", state="absent"))}),
        ),
    )
    hosts, specs = desired(book)
    assert [h.name for h in hosts] == ["h1"]
    assert specs == {"h1": (web,)}  # db: the later play removes it
