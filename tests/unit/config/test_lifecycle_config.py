"""`state`, `replace` and `depends_on` on a container (issue 12): the model they make, that
none of them is in the spec hash, and every problem with file:line and key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deployer.config import load_playbook
from deployer.inventory import Inventory, load_inventory
from deployer.model import ContainerSpec, spec_hash
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
  containers:
    - name: db
      image: redis:7
      replace: never
      ports: ["6379:6379"]
    - name: app
      image: nginx
      replace: on_change
      depends_on: [db]
    - name: old-worker
      state: absent
    - name: old-api
      image: nginx
      state: absent
      ports: ["6379:6379"]   # an absent container binds nothing: no clash with db
      stop_timeout: 30
"""


def test_lifecycle_keys_map_to_the_model(write: Write, inv: Inventory) -> None:
    (play,) = load_playbook(write("play.yml", GOOD), inv).plays
    db, app, worker, api = play.containers["h1"]
    assert (db.state, db.replace, db.depends_on) == ("present", "never", ())
    assert (app.state, app.replace, app.depends_on) == ("present", "on_change", ("db",))
    # absent: only the name (and image, stop timeout) matter; nothing is started, bound, built
    assert worker == ContainerSpec(name="old-worker", image="", state="absent")
    assert (api.state, api.image, api.ports, api.stop_timeout) == ("absent", "nginx", (), 30)


def test_the_defaults_are_present_and_always() -> None:
    spec = ContainerSpec(name="web", image="nginx")
    assert (spec.state, spec.replace, spec.depends_on) == ("present", "always", ())


def test_lifecycle_keys_are_not_in_the_spec_hash() -> None:
    plain = ContainerSpec(name="web", image="nginx")
    for changed in (
        ContainerSpec(name="web", image="nginx", replace="never"),
        ContainerSpec(name="web", image="nginx", replace="on_change"),
        ContainerSpec(name="web", image="nginx", depends_on=("db",)),
    ):
        assert spec_hash(changed) == spec_hash(plain)
    assert spec_hash(ContainerSpec(name="web", image="redis")) != spec_hash(plain)  # it can fail


@pytest.mark.parametrize(
    "container,where,message",
    [
        ("{name: app, image: nginx, state: gone}", "plays[0].containers[0].state", "present or absent, got 'gone'"),
        ("{name: app, image: nginx, state: [absent]}", "plays[0].containers[0].state", "must be a string"),
        ("{name: app, image: nginx, replace: sometimes}", "plays[0].containers[0].replace", "always, on_change or never"),
        ("{name: app, image: nginx, depends_on: db}", "plays[0].containers[0].depends_on", "must be a list of container names"),
        ("{name: app, image: nginx, depends_on: ['a b']}", "plays[0].containers[0].depends_on[0]", "is not a container name"),
        ("{name: app}", "plays[0].containers[0]", "missing required key 'image' (only a container with state: absent may leave it out)"),
        ("{name: app, state: present}", "plays[0].containers[0]", "missing required key 'image'"),
        ("{image: nginx, state: absent}", "plays[0].containers[0]", "missing required key 'name'"),
    ],
)  # fmt: skip
def test_bad_lifecycle_keys_name_file_line_and_key(
    write: Write, inv: Inventory, container: str, where: str, message: str
) -> None:
    path, probs = problems(write, inv, f"- hosts: web\n  containers:\n    - {container}\n")
    assert has_problem(probs, f"{path}:3:", ": " + where + ": ", message), probs
    assert len(probs) == 1, probs


def test_an_absent_container_needs_no_image(write: Write, inv: Inventory) -> None:
    (play,) = load_playbook(
        write("play.yml", "- hosts: web\n  containers:\n    - {name: gone, state: absent}\n"), inv
    ).plays
    assert [s.state for s in play.containers["h2"]] == ["absent"]


DEPENDS = """
- hosts: web
  containers:
    - name: db
      image: redis
      depends_on: [cache]
    - name: cache
      image: redis
      depends_on: [db, nope]
    - name: gone
      state: absent
    - name: app
      image: nginx
      depends_on:
        - app
        - gone
        - dbb
"""


def test_depends_on_unknown_names_absent_ones_and_cycles_at_file_line_key(
    write: Write, inv: Inventory
) -> None:
    path, probs = problems(write, inv, DEPENDS)
    expected = [
        f"{path}:8:24: plays[0].containers[1].depends_on[1]: depends_on: no container named "
        "'nope' in this play on this host",
        f"{path}:15:11: plays[0].containers[3].depends_on[1]: depends_on: gone has state: absent",
        f"{path}:16:11: plays[0].containers[3].depends_on[2]: depends_on: no container named "
        "'dbb' in this play on this host (did you mean 'db'?)",
        f"{path}:5:19: plays[0].containers[0].depends_on: depends_on makes a cycle: "
        "db -> cache -> db",
        f"{path}:14:9: plays[0].containers[3].depends_on: depends_on makes a cycle: app -> app",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in probs), (line, probs)
    assert len(probs) == len(expected), probs  # said once, not once per host


def test_depends_on_names_only_its_own_play(write: Write, inv: Inventory) -> None:
    text = """
- hosts: web
  containers:
    - {name: db, image: redis}
- hosts: web
  containers:
    - {name: app, image: nginx, depends_on: [db]}
"""
    path, probs = problems(write, inv, text)
    assert probs == [
        f"{path}:6:46: plays[1].containers[0].depends_on[0]: depends_on: no container named "
        "'db' in this play on this host"
    ]


def test_a_long_cycle_is_found_once_and_a_deep_chain_is_fine(write: Write, inv: Inventory) -> None:
    n = 300  # a chain this long must neither recurse too deep nor take long
    chain = "".join(
        f"    - {{name: c{i}, image: nginx, depends_on: [c{i + 1}]}}\n" for i in range(n)
    )
    ok = f"- hosts: web\n  containers:\n{chain}    - {{name: c{n}, image: nginx}}\n"
    (play,) = load_playbook(write("ok.yml", ok), inv).plays
    assert len(play.containers["h1"]) == n + 1
    loop = f"- hosts: web\n  containers:\n{chain}    - {{name: c{n}, image: nginx, depends_on: [c0]}}\n"
    _, probs = problems(write, inv, loop)
    assert len(probs) == 1 and "depends_on makes a cycle: c0 -> c1 -> c2" in probs[0], probs
    assert f"c{n} -> c0" in probs[0]


def test_a_templated_state_is_checked_per_host(write: Write, inv: Inventory) -> None:
    inv2 = load_inventory(
        [
            write(
                "inv2.yml",
                "all:\n  hosts:\n    h1: {st: absent}\n    h2: {st: present}\n",
            )
        ]
    )
    text = "- hosts: all\n  containers:\n    - {name: app, state: '{{ st }}'}\n"
    path, probs = problems(write, inv2, text)
    assert probs == [
        f"{path}:3:7: plays[0].containers[0]: missing required key 'image' (only a container "
        "with state: absent may leave it out) (on host h2)"
    ]
