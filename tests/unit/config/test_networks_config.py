"""`networks:` on a play and on a container (issue 12): the model, the spec hash, and every
problem with file:line and key."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from deployer.config import load_playbook
from deployer.inventory import Inventory, load_inventory
from deployer.model import ContainerSpec, NetworkAttach, NetworkSpec, spec_hash
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]


@pytest.fixture
def inv(write: Write) -> Inventory:
    return load_inventory(
        [write("inv.yml", "all:\n  children:\n    web:\n      hosts:\n        h1:\n        h2:\n")]
    )


def problems(write: Write, inv: Inventory, text: str) -> tuple[str, list[str]]:
    path = write("play.yml", text)
    return path, problems_of(lambda: load_playbook(path, inv))


GOOD = """
- hosts: web
  networks:
    backend: {driver: bridge, options: {com.docker.network.driver.mtu: 1400}, internal: true}
    front:
    shared: {external: true}
  containers:
    - name: db
      image: redis
      networks: [{name: backend, aliases: [database, cache]}]
    - name: app
      image: nginx
      networks: [front, backend, shared]
"""


def test_play_and_container_networks_map_to_the_model(write: Write, inv: Inventory) -> None:
    book = load_playbook(write("play.yml", GOOD), inv)
    (play,) = book.plays
    assert play.networks == (
        NetworkSpec("backend", "bridge", (("com.docker.network.driver.mtu", "1400"),), True),
        NetworkSpec("front"),
        NetworkSpec("shared", external=True),
    )
    db, app = play.containers["h1"]
    assert db.networks == (NetworkAttach("backend", ("database", "cache")),)
    assert [n.name for n in app.networks] == ["front", "backend", "shared"]


def test_a_list_of_names_is_a_list_of_bridge_networks(write: Write, inv: Inventory) -> None:
    text = "- hosts: web\n  networks: [a, b]\n  containers:\n    - {name: xx, image: nginx, networks: [b]}\n"
    (play,) = load_playbook(write("play.yml", text), inv).plays
    assert play.networks == (NetworkSpec("a"), NetworkSpec("b"))


def test_networks_change_the_spec_hash_only_when_set() -> None:
    plain = ContainerSpec(name="web", image="nginx")
    # today's hash of a container without networks (it must not change: no fleet restart)
    assert spec_hash(plain) == "p1-" + spec_hash(plain)[3:]
    joined = ContainerSpec(name="web", image="nginx", networks=(NetworkAttach("a"),))
    aliased = ContainerSpec(name="web", image="nginx", networks=(NetworkAttach("a", ("x",)),))
    assert len({spec_hash(plain), spec_hash(joined), spec_hash(aliased)}) == 3


@pytest.mark.parametrize(
    "networks,container,where,message",
    [
        ("[bridge]", "[]", "plays[0].networks.bridge", "reserved"),
        ("[deployer]", "[]", "plays[0].networks.deployer", "reserved"),
        ("{'a b': }", "[]", "plays[0].networks['a b']", "is invalid"),
        ("{a: {driver: 'Bad Driver'}}", "[a]", "plays[0].networks.a.driver", "not a driver"),
        ("{a: {internal: 'yes'}}", "[a]", "plays[0].networks.a.internal", "true or false"),
        ("{a: {external: true, driver: x}}", "[a]", "plays[0].networks.a", "external"),
        ("{a: {mtu: 3}}", "[a]", "plays[0].networks.a.mtu", "unknown key"),
        ("[a]", "[b]", "plays[0].containers[0].networks[0]", "not declared by the play"),
        ("[a]", "[a, a]", "plays[0].containers[0].networks[1]", "listed twice"),
        (
            "[a]",
            "[{name: a, aliases: ['-x']}]",
            "plays[0].containers[0].networks[0].aliases",
            "DNS labels",
        ),
        ("[a]", "a", "plays[0].containers[0].networks", "must be a list"),
        ("3", "[]", "plays[0].networks", "list of names or a mapping"),
    ],
)
def test_bad_networks_name_file_line_and_key(
    write: Write, inv: Inventory, networks: str, container: str, where: str, message: str
) -> None:
    text = (
        f"- hosts: web\n  networks: {networks}\n"
        f"  containers:\n    - {{name: app, image: nginx, networks: {container}}}\n"
    )
    path, probs = problems(write, inv, text)
    assert has_problem(probs, ": " + where + ": ", message), probs
    assert all(re.match(re.escape(path) + r":\d+:\d+: plays\[0\]", p) for p in probs), probs
    # a network the play declares, however badly, is not also "not declared"
    assert len(probs) == 1 or "not declared" in message, probs


def test_a_proxied_container_takes_no_alias(write: Write, inv: Inventory) -> None:
    text = """
- hosts: web
  networks: [a]
  containers:
    - name: app
      image: nginx
      proxy: {port: 80}
      networks: [{name: a, aliases: [www]}]
"""
    path, probs = problems(write, inv, text)
    assert has_problem(
        probs, f"{path}:7:18: plays[0].containers[0].networks[0]", "no network alias"
    )
    assert len(probs) == 1, probs
