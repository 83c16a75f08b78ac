"""Pure tests of a light lab's layout (`deployer lab up --light`): addresses, bridges, names."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from deployer.errors import LabError
from deployer.lab import fleet, inventory_yaml
from deployer.lab.layout import ENGINE, HOSTS_PER_BRIDGE, MAX_LIGHT_HOSTS, make_layout

IFNAMSIZ = 15


def light(name: str = "fl", hosts: int = 1000):
    return make_layout(name, Path("/var/tmp/x"), hosts, light=True)


def test_a_thousand_hosts_spread_over_bridges_of_240() -> None:
    lo = light("fl", 1000)
    assert lo.bridge_count == 5  # a Linux bridge takes at most 1024 ports
    web = fleet.light_hosts(lo)
    assert len(web) == 1000 and [h.name for h in web[:2]] == ["h1", "h2"]
    per_bridge = [sum(1 for i in range(1000) if lo.bridge_of(i) == k) for k in range(5)]
    assert per_bridge == [240, 240, 240, 240, 40]
    engine = fleet.engine_host(lo).docker_host  # once: it builds the layout's host list
    for i, h in enumerate(web):
        net = ipaddress.ip_network(lo.light_subnet(lo.bridge_of(i)))
        assert ipaddress.ip_address(h.address) in net
        assert h.address not in (
            lo.light_gateway(lo.bridge_of(i)),
            lo.engine_address(lo.bridge_of(i)),
        )
        assert not h.has_engine and h.shared_engine == engine
    assert len({h.address for h in web}) == 1000


def test_light_addresses_never_clash_with_full_labs() -> None:
    for name in ("fl", "flt0", "flt1", "fleet", "t", "t0", "bench"):
        lo = light(name, MAX_LIGHT_HOSTS)
        for k in range(lo.bridge_count):
            net = ipaddress.ip_network(lo.light_subnet(k))
            assert net.subnet_of(ipaddress.ip_network("10.203.0.0/16"))
    full = make_layout("t", Path("/var/tmp/x"), 3)
    assert full.subnet.startswith("10.201.") and full.private_subnet.startswith("10.202.")


def test_the_engine_has_a_leg_on_every_bridge_and_the_registry_on_bridge_0() -> None:
    lo = light("fl", 500)
    engine = fleet.engine_host(lo)
    assert engine.name == ENGINE and engine.has_engine and engine.address == lo.engine_address(0)
    assert lo.gateway == lo.light_gateway(0) and lo.registry.startswith(lo.light_gateway(0) + ":")
    batch = fleet.engine_batch(lo)
    for k in range(lo.bridge_count):
        assert f"addr add {lo.engine_address(k)}/24 dev eth{k}" in batch
    # a host on bridge 2 reaches the containers through the engine's leg on bridge 2
    host = fleet.light_hosts(lo)[2 * HOSTS_PER_BRIDGE]
    assert f"via {lo.engine_address(2)}" in fleet.host_batch(lo, 2 * HOSTS_PER_BRIDGE, host)


@pytest.mark.parametrize("name", ["a", "fl", "abcdef"])
def test_names_fit_and_carry_the_lab_name(name: str) -> None:
    lo = light(name, 1000)
    links = [lo.light_bridge(k) for k in range(5)] + [lo.engine_veth(k) for k in range(5)]
    links += [lo.veth(i) for i in range(1000)]
    assert all(len(n) <= IFNAMSIZ and n.startswith(lo.prefix) for n in links)
    assert all(lo.owns_link(n) for n in links)
    assert all(h.netns.startswith(lo.prefix + "-") for h in lo.hosts())
    batch = fleet.root_batch(lo)
    assert batch.count("netns add ") == 1001 and batch.count(" type bridge") == 5


def test_a_light_lab_never_owns_another_labs_links() -> None:
    fl, flt = light("fl", 10), light("flt", 10)
    assert not fl.owns_link(flt.light_bridge(0)) and not fl.owns_link(flt.veth(3))
    assert not flt.owns_link(fl.engine_veth(0))


@pytest.mark.parametrize("hosts", [0, MAX_LIGHT_HOSTS + 1])
def test_light_host_count_bounds(hosts: int) -> None:
    with pytest.raises(LabError, match="light lab"):
        light("fl", hosts)


def test_more_than_the_full_lab_limit_needs_light() -> None:
    with pytest.raises(LabError, match="--light"):
        make_layout("fl", Path("/var/tmp/x"), 100)
    assert light("fl", 100).hosts_count == 100


def test_light_inventory_has_only_web_hosts_with_their_engine_leg() -> None:
    lo = light("fl", 300)
    doc = yaml.safe_load(inventory_yaml(lo, {}))
    assert list(doc["all"]["children"]) == ["web"]
    hosts = doc["all"]["children"]["web"]["hosts"]
    assert len(hosts) == 300 and "engine" not in hosts
    assert hosts["h241"]["lab_engine"] == lo.engine_address(1)
    assert "deployer_builder" not in doc["all"]["vars"]
