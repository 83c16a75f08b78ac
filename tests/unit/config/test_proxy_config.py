"""The `proxy:` key of a playbook container, read through the public loader (load_playbook).

Every problem must name the playbook file, the line and column, and the key path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from deployer.config import load_playbook
from deployer.inventory import Inventory, load_inventory
from deployer.model import ContainerSpec, PortSpec, ProxySpec, spec_hash, spec_public
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]

INVENTORY = """
all:
  hosts:
    h1: {app_port: 8080, site: Site.Example}
"""

HEAD = "- hosts: h1\n  containers:\n    - name: site\n      image: nginx:1.25\n"


@pytest.fixture
def inv(write: Write) -> Inventory:
    return load_inventory([write("inv.yml", INVENTORY)])


def site(write: Write, inv: Inventory, body: str) -> ContainerSpec:
    """The one container `site` of a playbook whose container lines (after image) are BODY."""
    path = write("play.yml", HEAD + body)
    (play,) = load_playbook(path, inv).plays
    (spec,) = play.containers["h1"]
    return spec


def problems(write: Write, inv: Inventory, body: str) -> tuple[str, list[str]]:
    path = write("play.yml", HEAD + body)
    return path, problems_of(lambda: load_playbook(path, inv))


KEY = "plays[0].containers[0].proxy"


# ---------------------------------------------------------------- valid blocks


def test_a_full_proxy_block_maps_to_proxy_spec(write: Write, inv: Inventory) -> None:
    spec = site(
        write,
        inv,
        "      proxy:\n"
        '        port: "{{ app_port }}"\n'
        '        host: "{{ site }}"\n'
        "        path: /api\n"
        "        drain: 1m30s\n",
    )
    # the host name is lower-cased (Caddy's host matcher ignores case anyway)
    assert spec.proxy == ProxySpec(port=8080, host="site.example", path="/api", drain=90.0)
    assert spec.ports == ()


def test_defaults_of_a_minimal_proxy_block(write: Write, inv: Inventory) -> None:
    spec = site(write, inv, "      proxy: {port: 3000}\n")
    assert spec.proxy == ProxySpec(port=3000, host=None, path="/", drain=30.0)


def test_a_wildcard_host_is_accepted(write: Write, inv: Inventory) -> None:
    spec = site(write, inv, "      proxy: {port: 80, host: '*.Example.COM'}\n")
    assert spec.proxy is not None and spec.proxy.host == "*.example.com"


def test_no_proxy_key_or_null_means_ports_mode(write: Write, inv: Inventory) -> None:
    assert site(write, inv, "      ports: ['8080:80']\n").proxy is None
    assert site(write, inv, "      proxy: null\n      ports: ['8080:80']\n").proxy is None


def test_an_empty_ports_list_goes_with_proxy(write: Write, inv: Inventory) -> None:
    spec = site(write, inv, "      ports: []\n      proxy: {port: 80}\n")
    assert spec.proxy is not None and spec.proxy.port == 80


@pytest.mark.parametrize(
    "given, kept",
    [("/api/", "/api"), ("/api//", "/api"), ("/", "/"), ("//", "/"), ("/a/b/", "/a/b")],
)
def test_a_trailing_slash_of_the_path_is_dropped(
    write: Write, inv: Inventory, given: str, kept: str
) -> None:
    spec = site(write, inv, f"      proxy: {{port: 80, path: '{given}'}}\n")
    assert spec.proxy is not None and spec.proxy.path == kept


def test_the_health_port_defaults_to_the_proxy_port(write: Write, inv: Inventory) -> None:
    spec = site(
        write,
        inv,
        "      proxy: {port: 8081}\n      health: {http: {path: /up}, timeout: 5s}\n",
    )
    assert (spec.health.kind, spec.health.port, spec.health.path) == ("http", 8081, "/up")
    tcp = site(write, inv, "      proxy: {port: 9000}\n      health: {tcp: {}}\n")
    assert (tcp.health.kind, tcp.health.port) == ("tcp", 9000)


def test_an_explicit_health_port_wins_over_the_proxy_port(write: Write, inv: Inventory) -> None:
    spec = site(write, inv, "      proxy: {port: 8081}\n      health: {http: {port: 9090}}\n")
    assert spec.health.port == 9090


# ---------------------------------------------------------------- problems


def test_ports_together_with_proxy_is_an_error_at_the_proxy_key(
    write: Write, inv: Inventory
) -> None:
    path, found = problems(write, inv, "      ports: ['8080:80']\n      proxy:\n        port: 80\n")
    # line 6 is `proxy:`; the message says what to remove
    assert has_problem(found, f"{path}:6:7: {KEY}:", "remove `ports`")
    assert len(found) == 1, found


def test_a_missing_port_is_an_error(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, "      proxy: {host: a.example}\n")
    assert has_problem(found, f"{path}:5:", f"{KEY}:", "proxy needs port")


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1", "8.5", "true", "[80]"])
def test_a_bad_port_is_an_error_with_position(write: Write, inv: Inventory, port: str) -> None:
    path, found = problems(write, inv, f"      proxy:\n        port: {port}\n")
    assert has_problem(found, f"{path}:6:15: {KEY}.port:", "port must be a whole number")


@pytest.mark.parametrize(
    "host",
    ["'bad host'", "site.example:8080", "-lead.example", "a..b", "http://a.example", "'*'", "''"],
)
def test_a_bad_host_is_an_error_with_position(write: Write, inv: Inventory, host: str) -> None:
    path, found = problems(write, inv, f"      proxy:\n        port: 80\n        host: {host}\n")
    assert has_problem(found, f"{path}:7:15: {KEY}.host:"), found


@pytest.mark.parametrize("prefix", ["'/a b'", "api", "'/a\\tb'", "/a?b=1", "/a*", "/a#x"])
def test_a_bad_path_is_an_error_with_position(write: Write, inv: Inventory, prefix: str) -> None:
    body = f'      proxy:\n        port: 80\n        path: "{prefix.strip(chr(39))}"\n'
    path, found = problems(write, inv, body)
    assert has_problem(found, f"{path}:7:15: {KEY}.path:", "path must be a path prefix"), found


@pytest.mark.parametrize(
    "drain, says",
    [("forever", "invalid duration"), ("2h", "at most 3600s"), ("0", "more than 0"), ("-5s", "")],
)
def test_a_bad_drain_is_an_error_with_position(
    write: Write, inv: Inventory, drain: str, says: str
) -> None:
    path, found = problems(write, inv, f"      proxy:\n        port: 80\n        drain: {drain}\n")
    assert has_problem(found, f"{path}:7:16: {KEY}.drain:", says), found


def test_an_unknown_key_is_an_error_with_position(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, "      proxy:\n        port: 80\n        hots: a.example\n")
    assert has_problem(found, f"{path}:7:9: {KEY}.hots: unknown key 'hots'", "host")


def test_a_proxy_that_is_not_a_mapping_is_an_error(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, "      proxy: 80\n")
    assert has_problem(found, f"{path}:5:14: {KEY}: proxy must be a mapping")


def test_several_problems_of_one_block_are_all_reported(write: Write, inv: Inventory) -> None:
    path, found = problems(
        write, inv, "      proxy: {port: 0, host: 'a b', path: x, drain: soon}\n"
    )
    for key in ("port", "host", "path", "drain"):
        assert has_problem(found, f"{path}:5:", f"{KEY}.{key}:"), (key, found)


# ---------------------------------------------------------------- the spec hash


def _spec_public_before_proxy_mode(spec: ContainerSpec) -> dict[str, object]:
    """model.spec_public as it was before proxy mode (commit 1880839^), copied verbatim."""
    return {
        "image": spec.image,
        "ports": sorted(p.to_docker() for p in spec.ports),
        "env": dict(spec.env),
        "secret_env": sorted(k for k, _ in spec.secret_env),
        "volumes": list(spec.volumes),
        "restart": spec.restart,
        "command": list(spec.command) if spec.command is not None else None,
        "labels": dict(spec.labels),
        "stop_timeout": spec.stop_timeout,
    }


def _hash_before_proxy_mode(spec: ContainerSpec) -> str:
    data = _spec_public_before_proxy_mode(spec)
    return "p1-" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def test_the_hash_of_a_container_without_proxy_is_what_it_was(write: Write, inv: Inventory) -> None:
    """Containers deployed before the upgrade must not be replaced only because of it."""
    spec = site(
        write,
        inv,
        "      ports: ['8080:80']\n      env: {A: '1'}\n      labels: {team: web}\n"
        "      volumes: ['/srv:/data:ro']\n      command: nginx -g 'daemon off;'\n",
    )
    assert spec.proxy is None
    assert "proxy" not in spec_public(spec)
    assert spec_hash(spec) == _hash_before_proxy_mode(spec)
    # pinned: a known spec keeps a known hash (catches a change of the hash's recipe too)
    fixed = ContainerSpec(name="web", image="nginx:1.25", ports=(PortSpec(80, "tcp", 8080),))
    recorded = (
        b'{"command": null, "env": {}, "image": "nginx:1.25", "labels": {}, '
        b'"ports": ["8080:80/tcp"], "restart": "unless-stopped", "secret_env": [], '
        b'"stop_timeout": 10, "volumes": []}'
    )
    assert spec_hash(fixed) == "p1-" + hashlib.sha256(recorded).hexdigest()[:32]


def test_the_proxy_block_is_part_of_the_hash(write: Write, inv: Inventory) -> None:
    """A change of the route must replace the container (that is how a route changes)."""
    a = site(write, inv, "      proxy: {port: 80}\n")
    b = site(write, inv, "      proxy: {port: 80, path: /v2}\n")
    c = site(write, inv, "      proxy: {port: 81}\n")
    assert spec_public(a)["proxy"] == {"port": 80, "host": None, "path": "/", "drain": 30.0}
    assert spec_hash(a) != _hash_before_proxy_mode(a)
    assert len({spec_hash(a), spec_hash(b), spec_hash(c)}) == 3
