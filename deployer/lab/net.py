"""The lab's network: a bridge, a namespace per host, the bastion's private link.

A host reaches the lab's addresses and nothing else: its routes name only the lab's
subnets, and every other destination is `unreachable` (refused at once, inside the
host's namespace: no packet leaves it). So a lookup of Docker Hub (registry-1.docker.io,
auth.docker.io) by a lab engine fails in milliseconds instead of waiting for a name
server that the lab may never ask.
"""

from __future__ import annotations

from pathlib import Path

from deployer.lab.layout import LabHost, Layout
from deployer.lab.system import in_netns, run


def _ip(*args: str, check: bool = True) -> None:
    run(["ip", *args], check=check)


def _ns_ip(netns: str, *args: str) -> None:
    run(in_netns(netns, ["ip", *args]))


def create(layout: Layout) -> None:
    _ip("link", "add", layout.bridge, "type", "bridge")
    _ip("addr", "add", f"{layout.gateway}/24", "dev", layout.bridge)
    _ip("link", "set", layout.bridge, "up")
    # The private subnet must never be routed out of this machine: refuse it here.
    _ip("route", "add", "unreachable", layout.private_subnet)
    bastion = None
    for index, host in enumerate(layout.hosts()):
        _ip("netns", "add", host.netns)
        _ns_ip(host.netns, "link", "set", "lo", "up")
        if host.role == "private":
            continue
        outer = layout.veth(index)
        _ip("link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _ip("link", "set", outer, "master", layout.bridge)
        _ip("link", "set", outer, "up")
        _ns_ip(host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ns_ip(host.netns, "link", "set", "eth0", "up")
        for route in host_routes(layout, via=None):
            _ns_ip(host.netns, *route)
        if host.role == "bastion":
            bastion = host
    assert bastion is not None
    _link_private(layout, bastion, [h for h in layout.hosts() if h.role == "private"])


def host_routes(layout: Layout, via: str | None) -> list[list[str]]:
    """The `ip` arguments of a host's routes beyond its own link: a private host reaches
    the lab's subnet through the bastion (`via`); every other destination is unreachable
    (no default route through the lab's bridge: the machine's own name server and the
    internet are not the lab's)."""
    routes = [] if via is None else [["route", "add", layout.subnet, "via", via]]
    return [*routes, ["route", "add", "unreachable", "default"]]


def _link_private(layout: Layout, bastion: LabHost, private: list[LabHost]) -> None:
    """Each private host hangs off the bastion by its own veth pair; the bastion NATs it out."""
    for index, host in enumerate(private):
        inner = f"priv{index}"
        run(
            in_netns(
                bastion.netns,
                [
                    "ip",
                    "link",
                    "add",
                    inner,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    host.netns,
                ],
            )
        )
        addr = (
            layout.bastion_inner
            if index == 0
            else layout.bastion_inner.rsplit(".", 1)[0] + f".{index + 200}"
        )
        _ns_ip(bastion.netns, "addr", "add", f"{addr}/24", "dev", inner)
        _ns_ip(bastion.netns, "link", "set", inner, "up")
        _ns_ip(host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ns_ip(host.netns, "link", "set", "eth0", "up")
        for route in host_routes(layout, via=addr):
            _ns_ip(host.netns, *route)
    run(in_netns(bastion.netns, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]))
    run(
        in_netns(
            bastion.netns,
            [
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                layout.private_subnet,
                "-o",
                "eth0",
                "-j",
                "MASQUERADE",
            ],
        )
    )


def lab_netns(layout: Layout) -> list[str]:
    """Every namespace of this lab that exists now, found by name."""
    netns_dir = Path("/var/run/netns")
    if not netns_dir.exists():
        return []
    return sorted(p.name for p in netns_dir.iterdir() if p.name.startswith(layout.prefix + "-"))


def destroy(layout: Layout) -> None:
    """Remove every namespace, link, route and the bridge of this lab (by name), in one
    `ip -force -batch` (a light lab has up to a thousand of each)."""
    lines = [f"netns del {name}" for name in lab_netns(layout)]
    lines += [f"link del {ifname}" for ifname in _own_links(layout)]
    if lines:
        run(
            ["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n", check=False, timeout=600
        )
    # a veth whose namespace went away only now may still be listed once: sweep again
    for ifname in _own_links(layout):
        _ip("link", "del", ifname, check=False)
    if not layout.light:
        _ip("route", "del", "unreachable", layout.private_subnet, check=False)


def _own_links(layout: Layout) -> list[str]:
    links = run(["ip", "-o", "link", "show"], check=False).stdout
    names = [line.split(":", 2)[1].strip().split("@")[0] for line in links.splitlines()]
    return [name for name in names if layout.owns_link(name)]


def leftovers(layout: Layout) -> list[str]:
    """What of this lab's network still exists (for status and for tests)."""
    found = [f"netns {name}" for name in lab_netns(layout)]
    found += [f"link {ifname}" for ifname in _own_links(layout)]
    if layout.light:
        return found
    routes = run(["ip", "route", "show", layout.private_subnet], check=False).stdout
    if routes.strip():
        found.append(f"route {layout.private_subnet}")
    return found
