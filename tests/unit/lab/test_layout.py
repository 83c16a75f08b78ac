"""Pure tests of deployer.lab.layout and of the inventory the lab writes (no I/O, no root)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from deployer.errors import LabError
from deployer.lab import inventory_yaml
from deployer.lab.layout import MAX_HOSTS, PLAIN_PORT, REGISTRY_USER, TLS_PORT, make_layout

IFNAMSIZ = 15  # Linux interface names: at most 15 characters


def lay(name: str = "t", hosts: int = 3, folder: str = "/var/tmp/x"):
    return make_layout(name, Path(folder), hosts)


def test_addresses_of_a_three_host_lab() -> None:
    lo = lay("t", 3)
    o = lo.third_octet
    by_name = {h.name: h for h in lo.hosts()}
    assert list(by_name) == ["h1", "h2", "h3", "bastion", "p1"]
    assert [by_name[f"h{i}"].address for i in (1, 2, 3)] == [
        f"10.201.{o}.{10 + i}" for i in (1, 2, 3)
    ]
    assert by_name["bastion"].address == f"10.201.{o}.2"
    assert by_name["p1"].address == f"10.202.{o}.2"
    assert lo.gateway == f"10.201.{o}.1"
    assert lo.bastion_inner == f"10.202.{o}.1"
    assert lo.subnet == f"10.201.{o}.0/24"
    assert lo.private_subnet == f"10.202.{o}.0/24"
    assert lo.registry == f"{lo.gateway}:{PLAIN_PORT}"
    assert lo.registry_tls == f"{lo.gateway}:{TLS_PORT}"
    assert lo.certs_d == Path("/etc/docker/certs.d") / lo.registry_tls


@pytest.mark.parametrize("hosts", [1, 3, MAX_HOSTS])
def test_every_address_is_unique_and_in_its_subnet(hosts: int) -> None:
    lo = lay("abcdef", hosts)
    public = ipaddress.ip_network(lo.subnet)
    private = ipaddress.ip_network(lo.private_subnet)
    addrs = [h.address for h in lo.hosts()] + [lo.gateway, lo.bastion_inner]
    assert len(addrs) == len(set(addrs))
    for h in lo.hosts():
        ip = ipaddress.ip_address(h.address)
        assert ip in (private if h.role == "private" else public), h
        assert ip not in (public.network_address, public.broadcast_address)
    assert ipaddress.ip_address(lo.gateway) in public
    assert ipaddress.ip_address(lo.bastion_inner) in private
    # Only lab addresses: nothing outside 10.201/16 and 10.202/16.
    assert public.subnet_of(ipaddress.ip_network("10.201.0.0/16"))
    assert private.subnet_of(ipaddress.ip_network("10.202.0.0/16"))


def test_roles_and_engines() -> None:
    hosts = lay("t", 2).hosts()
    assert [(h.name, h.role, h.has_engine) for h in hosts] == [
        ("h1", "web", True),
        ("h2", "web", True),
        ("bastion", "bastion", False),
        ("p1", "private", True),
    ]


@pytest.mark.parametrize("name", ["a", "t", "lab", "abcdef", "z9z9z9"])
def test_interface_and_namespace_names_fit(name: str) -> None:
    lo = lay(name, MAX_HOSTS)
    names = [lo.bridge] + [lo.veth(i) for i in range(len(lo.hosts()))]
    for ifname in names:
        assert 0 < len(ifname) <= IFNAMSIZ, ifname
        assert ifname.startswith(lo.prefix)
    assert len(set(names)) == len(names), "interface names collide (truncated?)"
    netns = [h.netns for h in lo.hosts()]
    assert len(set(netns)) == len(netns)
    assert all(n.startswith(lo.prefix + "-") for n in netns)


def test_names_carry_the_lab_name() -> None:
    lo = lay("td", 1, "/var/tmp/some-dir")
    assert lo.prefix == "dltd"
    assert lo.bridge == "dltdbr"
    assert lo.run_dir == Path("/run/deployer-lab-td")
    assert lo.dir == Path("/var/tmp/some-dir")
    h1 = lo.hosts()[0]
    assert h1.netns == "dltd-h1"
    assert h1.run_dir == lo.run_dir / "h1"
    assert h1.data_dir == lo.dir / "hosts" / "h1"
    assert h1.docker_host == f"unix://{lo.run_dir}/h1/docker.sock"
    assert lo.key_file.parent == lo.known_hosts.parent == lo.password_file.parent == lo.dir


def test_two_lab_names_get_different_subnets_and_names() -> None:
    # the labs that can be up together: the suite's (t, or t0 and t1 under two pytest-xdist
    # workers) with the ones its lab tests bring up beside it, and the demo's and bench's
    names = ["t", "t0", "t1", "td", "hy", "hyf", "lab", "demo", "ci", "bench"]
    labs = [lay(n) for n in names]
    assert len({lo.subnet for lo in labs}) == len(labs)
    assert len({lo.private_subnet for lo in labs}) == len(labs)
    assert len({lo.gateway for lo in labs}) == len(labs)
    assert len({lo.bridge for lo in labs}) == len(labs)
    assert len({str(lo.run_dir) for lo in labs}) == len(labs)


def test_subnet_is_stable_per_name() -> None:
    assert lay("t", 1, "/a").subnet == lay("t", 5, "/b").subnet


@pytest.mark.parametrize(
    "a,b", [("t", "td"), ("lab", "labx"), ("l", "lab"), ("t", "tv0"), ("t", "tbr")]
)
def test_a_lab_never_owns_another_labs_links(a: str, b: str) -> None:
    """Names are prefixes of each other; `down` of one must not remove the other's links."""
    la, lb = lay(a, MAX_HOSTS), lay(b, MAX_HOSTS)
    links_a = [la.bridge] + [la.veth(i) for i in range(len(la.hosts()))]
    links_b = [lb.bridge] + [lb.veth(i) for i in range(len(lb.hosts()))]
    assert all(la.owns_link(n) for n in links_a)
    assert all(lb.owns_link(n) for n in links_b)
    assert not any(la.owns_link(n) for n in links_b), [n for n in links_b if la.owns_link(n)]
    assert not any(lb.owns_link(n) for n in links_a), [n for n in links_a if lb.owns_link(n)]
    assert not la.owns_link("eth0") and not la.owns_link("docker0")


@pytest.mark.parametrize(
    "name",
    ["", "T", "Lab", "1ab", "abcdefg", "a-b", "a_b", "a.b", "a/b", "lab ", " lab", "ä", "t\n"],
)
def test_bad_names_rejected(name: str) -> None:
    with pytest.raises(LabError, match="lab name"):
        make_layout(name, Path("/var/tmp/x"), 1)


@pytest.mark.parametrize("hosts", [0, -1, MAX_HOSTS + 1, 1000])
def test_bad_host_counts_rejected(hosts: int) -> None:
    with pytest.raises(LabError, match="--hosts"):
        make_layout("t", Path("/var/tmp/x"), hosts)


@pytest.mark.parametrize("hosts", [1, MAX_HOSTS])
def test_host_count_bounds_accepted(hosts: int) -> None:
    assert len(lay("t", hosts).hosts()) == hosts + 2


def test_relative_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lo = make_layout("t", Path("rel"), 1)
    assert lo.dir == tmp_path.resolve() / "rel"


def test_images_name_the_registry() -> None:
    lo = lay()
    assert lo.image("v1") == f"{lo.registry}/demo/web:v1"
    assert lo.image("v2") == f"{lo.registry}/demo/web:v2"
    assert lo.image("unhealthy").startswith(f"{lo.registry}/demo/unhealthy:")
    assert lo.image("crash").startswith(f"{lo.registry}/demo/crash:")
    assert lo.image("v1", lo.registry_tls) == f"{lo.registry_tls}/demo/web:v1"
    with pytest.raises(KeyError):
        lo.image("nope")


def test_inventory_yaml_content() -> None:
    lo = lay("t", 3, "/var/tmp/inv")
    text = inventory_yaml(lo)
    # `down` only deletes an inventory that starts with this line.
    assert text.startswith("# Written by `deployer lab up`")
    doc = yaml.safe_load(text)
    allg = doc["all"]
    v = allg["vars"]
    assert v["ansible_user"] == "root"
    assert v["ansible_ssh_private_key_file"] == str(lo.key_file)
    assert v["deployer_known_hosts"] == str(lo.known_hosts)
    assert v["lab_registry"] == lo.registry
    assert v["lab_registry_tls"] == lo.registry_tls
    assert v["lab_registry_user"] == REGISTRY_USER
    assert v["lab_registry_password_file"] == str(lo.password_file)
    for kind in ("v1", "v2", "unhealthy", "crash"):
        assert v[f"lab_image_{kind}"] == lo.image(kind)
    groups = allg["children"]
    assert set(groups) >= {"web", "private", "bastions"}
    by_name = {h.name: h for h in lo.hosts()}
    assert groups["web"]["hosts"] == {
        n: {"ansible_host": by_name[n].address} for n in ("h1", "h2", "h3")
    }
    assert groups["bastions"]["hosts"] == {"bastion": {"ansible_host": by_name["bastion"].address}}
    assert groups["private"]["hosts"] == {
        "p1": {
            "ansible_host": by_name["p1"].address,
            "deployer_ssh_jump": f"root@{by_name['bastion'].address}",
        }
    }
    # No secret in the inventory: only the path of the password file.
    assert "password:" not in text.replace("password_file:", "")


def test_inventory_grows_with_hosts() -> None:
    doc = yaml.safe_load(inventory_yaml(lay("t", 7)))
    assert list(doc["all"]["children"]["web"]["hosts"]) == [f"h{i}" for i in range(1, 8)]


def test_inventory_yaml_with_swarm_has_manager_and_worker_groups() -> None:
    plain = yaml.safe_load(inventory_yaml(lay("t", 3)))["all"]["children"]
    assert "swarm_managers" not in plain and "swarm_workers" not in plain
    groups = yaml.safe_load(inventory_yaml(lay("t", 3), swarm=True))["all"]["children"]
    assert list(groups["swarm_managers"]["hosts"]) == ["h1"]
    assert list(groups["swarm_workers"]["hosts"]) == ["h2", "h3"]
    assert set(groups["web"]["hosts"]) == {"h1", "h2", "h3"}  # still the web group
