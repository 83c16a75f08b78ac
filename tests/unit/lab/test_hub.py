"""The lab's Docker Hub, pure parts: names, tags, versions, the mirror's registry config,
the hosts' routes and what the inventory says. No I/O, no root."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from deployer.errors import LabError
from deployer.lab import hub, inventory_yaml, net
from deployer.lab.debs import busybox_version, parse_ldd, upstream_version
from deployer.lab.layout import BUILDER, HUB_DEMO_IMAGES, HUB_PORT, make_layout
from deployer.lab.services import registry_yaml


def lay(name: str = "t", hosts: int = 3):
    return make_layout(name, Path("/var/tmp/x"), hosts)


@pytest.mark.parametrize(
    "version, tags",
    [
        ("1.22.1", ["1.22.1", "1.22", "1", "latest"]),
        ("1.35.0", ["1.35.0", "1.35", "1", "latest"]),
        ("2", ["2", "latest"]),
    ],
)
def test_hub_tags_are_the_version_and_its_prefixes(version: str, tags: list[str]) -> None:
    assert hub.hub_tags(version) == tags


@pytest.mark.parametrize("bad", ["", "1.x", "v1.2", "1..2", "1.2-3"])
def test_hub_tags_refuse_what_is_not_a_version(bad: str) -> None:
    with pytest.raises(LabError):
        hub.hub_tags(bad)


def test_fixed_tag_is_major_minor() -> None:
    assert hub.fixed_tag("1.22.1") == "1.22"
    assert hub.fixed_tag("1.35.0") == "1.35"
    assert hub.fixed_tag("2") == "2"


@pytest.mark.parametrize(
    "image, ref",
    [
        ("nginx:1.22", "R:5001/library/nginx:1.22"),
        ("busybox:latest", "R:5001/library/busybox:latest"),
        ("deployer/demo-web:v1", "R:5001/deployer/demo-web:v1"),
        ("user/site.app_x:1.4.2-rc1", "R:5001/user/site.app_x:1.4.2-rc1"),
    ],
)
def test_mirror_ref_is_where_the_mirror_is_asked(image: str, ref: str) -> None:
    # Docker asks a mirror for /v2/library/NAME/... for an official image
    assert hub.mirror_ref("R:5001", image) == ref


@pytest.mark.parametrize(
    "image",
    ["nginx", "10.0.0.1:5000/x:1", "registry.example.com/x:1", "Nginx:1", "a//b:1", "x:a/b"],
)
def test_mirror_ref_refuses_what_is_not_a_hub_name_with_a_tag(image: str) -> None:
    with pytest.raises(LabError):
        hub.mirror_ref("R:5001", image)


def test_demo_images_have_hub_names_and_tags() -> None:
    assert set(HUB_DEMO_IMAGES) == {"v1", "v2", "unhealthy", "crash"}
    for name in HUB_DEMO_IMAGES.values():
        assert hub.mirror_ref("R", name).startswith("R/deployer/demo-")


@pytest.mark.parametrize(
    "version, upstream",
    [
        ("1.22.1-9+deb12u11", "1.22.1"),
        ("1:1.35.0-4+deb12u1+b1", "1.35.0"),
        ("2.6.2-5", "2.6.2"),
        ("1.22.1+dfsg-1", "1.22.1"),
    ],
)
def test_upstream_version_of_a_debian_version(version: str, upstream: str) -> None:
    assert upstream_version(version) == upstream


def test_busybox_version_from_its_banner() -> None:
    banner = "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n"
    assert busybox_version(banner) == "1.35.0"
    with pytest.raises(LabError):
        busybox_version("sh: busybox: not found")


def test_parse_ldd() -> None:
    out = (
        "\tlinux-vdso.so.1 (0x00007ffa00f37000)\n"
        "\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007ffa00c52000)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007ffa00f39000)\n"
    )
    assert parse_ldd(out, "nginx") == [
        Path("/lib/x86_64-linux-gnu/libssl.so.3"),
        Path("/lib64/ld-linux-x86-64.so.2"),
    ]
    with pytest.raises(LabError, match="libpcre2-8.so.0, not found"):
        parse_ldd("\tlibpcre2-8.so.0 => not found\n", "nginx")
    with pytest.raises(LabError, match="no libraries"):
        parse_ldd("\tstatically linked\n", "busybox")


def test_the_hub_is_a_lab_address() -> None:
    lo = lay()
    assert lo.registry_hub == f"{lo.gateway}:{HUB_PORT}"
    assert lo.hub_mirror == f"http://{lo.registry_hub}"
    assert ipaddress.ip_address(lo.gateway) in ipaddress.ip_network(lo.subnet)
    assert len({lo.registry, lo.registry_tls, lo.registry_hub}) == 3


def test_registry_configs() -> None:
    plain = yaml.safe_load(registry_yaml(Path("/r/plain"), "10.201.9.1:5000"))
    assert plain["http"] == {"addr": "10.201.9.1:5000"}
    assert plain["storage"]["filesystem"] == {"rootdirectory": "/r/plain"}
    assert "auth" not in plain and "maintenance" not in plain["storage"]
    ro = yaml.safe_load(registry_yaml(Path("/r/hub"), "10.201.9.1:5001", readonly=True))
    assert ro["storage"]["maintenance"] == {"readonly": {"enabled": True}}
    assert "auth" not in ro  # anonymous pulls, as from Docker Hub
    tls = yaml.safe_load(registry_yaml(Path("/r/tls"), "10.201.9.1:5443", tls=Path("/r")))
    assert tls["http"]["tls"] == {"certificate": "/r/server.crt", "key": "/r/server.key"}
    assert tls["auth"]["htpasswd"]["path"] == "/r/htpasswd"


@pytest.mark.parametrize("private", [False, True])
def test_hosts_route_only_to_the_lab(private: bool) -> None:
    """Every other destination is unreachable: refused at once inside the host's namespace
    (a Docker Hub lookup fails in milliseconds) and never sent anywhere."""
    lo = lay()
    via = lo.bastion_inner if private else None
    routes = net.host_routes(lo, via=via)
    assert routes[-1] == ["route", "add", "unreachable", "default"]
    lab = [ipaddress.ip_network(lo.subnet), ipaddress.ip_network(lo.private_subnet)]
    for route in routes[:-1]:
        assert route[:2] == ["route", "add"]
        assert any(ipaddress.ip_network(route[2]).subnet_of(n) for n in lab), route
        gateway = ipaddress.ip_address(route[route.index("via") + 1])
        assert any(gateway in n for n in lab), route
    assert not any("default" in r and "via" in r for r in routes)
    if via:
        assert ["route", "add", lo.subnet, "via", via] in routes


def test_inventory_names_the_hub_the_builder_and_the_push_registry() -> None:
    lo = lay("t", 3)
    base = {"nginx": "nginx:1.22", "busybox": "busybox:1.35"}
    v = yaml.safe_load(inventory_yaml(lo, base))["all"]["vars"]
    assert v["deployer_builder"] == BUILDER == "h1"
    assert v["lab_push_registry"] == lo.registry_tls  # the registry with a password
    assert v["lab_registry_hub"] == lo.registry_hub
    assert v["lab_hub_image_v1"] == "deployer/demo-web:v1"
    assert v["lab_hub_image_v2"] == "deployer/demo-web:v2"
    assert v["lab_hub_image_unhealthy"] == "deployer/demo-unhealthy:1"
    assert v["lab_hub_image_crash"] == "deployer/demo-crash:1"
    assert (v["lab_hub_nginx"], v["lab_hub_busybox"]) == ("nginx:1.22", "busybox:1.35")
    # the builder is a host of the inventory, in the web group
    assert BUILDER in yaml.safe_load(inventory_yaml(lo))["all"]["children"]["web"]["hosts"]
