"""A light lab (`deployer lab up --light --hosts N`, up to 1,000): a simulated fleet.

Each light host has its own network namespace, veth, address, sshd (own host key, the
lab's login key) and its own /tmp and /var/lib/deployer (locks and audit per host), but
no engine: every light host's sshd sets DOCKER_HOST to the lab's one shared engine's
unix socket (reachable from any network namespace). The engine has its own namespace
with a leg on every bridge; light hosts route the containers' addresses (172.16.0.0/12)
through it, so a probe of a container from a light host works as on a real host.

What this simulates honestly: N SSH endpoints, each with its own network stack, sshd,
state folder and per-host commands, against one engine. It does NOT simulate N engines'
work: every light host sees the same containers, so a deploy that creates containers runs
on one host only (`--limit h1`); no-op deploys and health reports can go to all N.

A Linux bridge takes at most 1024 ports: light hosts are spread over bridges of
HOSTS_PER_BRIDGE hosts, each its own /24 of 10.203.0.0/16 (see layout.py).
"""

from __future__ import annotations

import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deployer.lab import neigh, services
from deployer.lab.layout import ENGINE, LabHost, Layout
from deployer.lab.system import run, wait_for

WORKERS = 16  # parallel `ip -n` / sshd starts while bringing a fleet up
CONTAINER_NET = "172.16.0.0/12"  # the shared engine's bridge networks, routed via its legs
OPEN_FILES = 65536


def engine_host(layout: Layout) -> LabHost:
    return next(h for h in layout.hosts() if h.name == ENGINE)


def light_hosts(layout: Layout) -> list[LabHost]:
    return [h for h in layout.hosts() if h.name != ENGINE]


def root_batch(layout: Layout) -> str:
    """One `ip -batch` for the root namespace: bridges, namespaces, veth pairs."""
    lines = []
    for k in range(layout.bridge_count):
        br = layout.light_bridge(k)
        lines += [
            f"link add {br} type bridge",
            f"addr add {layout.light_gateway(k)}/24 dev {br}",
            f"link set {br} up",
        ]
    engine_ns = engine_host(layout).netns
    lines.append(f"netns add {engine_ns}")
    for k in range(layout.bridge_count):
        leg = layout.engine_veth(k)
        lines += [
            f"link add {leg} type veth peer name eth{k} netns {engine_ns}",
            f"link set {leg} master {layout.light_bridge(k)}",
            f"link set {leg} up",
        ]
    for index, host in enumerate(light_hosts(layout)):
        outer = layout.veth(index)
        lines += [
            f"netns add {host.netns}",
            f"link add {outer} type veth peer name eth0 netns {host.netns}",
            f"link set {outer} master {layout.light_bridge(layout.bridge_of(index))}",
            f"link set {outer} up",
        ]
    return "\n".join(lines) + "\n"


def host_batch(layout: Layout, index: int, host: LabHost) -> str:
    """`ip -batch` inside a light host's namespace: its address, the containers' network
    through the engine's leg on its bridge, every other destination unreachable."""
    via = layout.engine_address(layout.bridge_of(index))
    return (
        "link set lo up\n"
        f"addr add {host.address}/24 dev eth0\n"
        "link set eth0 up\n"
        f"route add {CONTAINER_NET} via {via}\n"
        "route add unreachable default\n"
    )


def engine_batch(layout: Layout) -> str:
    lines = ["link set lo up"]
    for k in range(layout.bridge_count):
        lines += [f"addr add {layout.engine_address(k)}/24 dev eth{k}", f"link set eth{k} up"]
    lines.append("route add unreachable default")
    return "\n".join(lines) + "\n"


def create_network(layout: Layout) -> None:
    run(["ip", "-batch", "-"], input=root_batch(layout), timeout=600)
    run(["ip", "-n", engine_host(layout).netns, "-batch", "-"], input=engine_batch(layout))
    hosts = light_hosts(layout)

    def one(index: int) -> None:
        run(
            ["ip", "-n", hosts[index].netns, "-batch", "-"],
            input=host_batch(layout, index, hosts[index]),
        )

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(one, range(len(hosts))))


def raise_open_files() -> None:
    """sshd children and the lab's own sockets: raise this process's soft limit (inherited
    by every sshd it starts) as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def start(layout: Layout) -> tuple[dict[str, int], dict[str, float]]:
    """Network, sshds and the shared engine of a light lab, up and answering.
    Returns ({what: pid}, {phase: seconds})."""
    raise_open_files()
    neigh.raise_for(len(light_hosts(layout)))  # every namespace's ARP entries: one table
    times: dict[str, float] = {}
    t0 = time.monotonic()
    create_network(layout)
    times["network"] = time.monotonic() - t0
    pids: dict[str, int] = {}
    engine = engine_host(layout)
    pids[f"{ENGINE}/dockerd"] = services.start_dockerd(layout, engine)
    t1 = time.monotonic()
    hosts = light_hosts(layout)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for host, pid in zip(
            hosts, pool.map(lambda h: services.start_sshd(layout, h), hosts), strict=True
        ):
            pids[f"{host.name}/sshd"] = pid
    times["sshd_started"] = time.monotonic() - t1
    t2 = time.monotonic()
    pending = list(hosts)
    deadline = time.monotonic() + 120 + len(hosts) * 0.1
    while pending and time.monotonic() < deadline:
        with ThreadPoolExecutor(max_workers=WORKERS * 4) as pool:
            up = list(pool.map(lambda h: services.port_open(h.address, 22), pending))
        pending = [h for h, ok in zip(pending, up, strict=True) if not ok]
        if pending:
            time.sleep(0.2)
    if pending:
        wait_for(
            lambda: False,
            f"sshd of {pending[0].name}",
            timeout=0,
            log=pending[0].data_dir / "sshd.log",
        )
    wait_for(
        lambda: services.engine_ready(engine),
        "the shared docker engine",
        timeout=60,
        log=engine.data_dir / "dockerd.log",
    )
    times["ready"] = time.monotonic() - t2
    return pids, times


def known_hosts(layout: Layout) -> str:
    return "".join(services.host_key_line(h) + "\n" for h in light_hosts(layout))


def memory_mb(pids: dict[str, int]) -> float:
    """Proportional set size (PSS: shared pages split between their users) of the lab's
    processes and their children, in MB, from /proc/PID/smaps_rollup."""
    from deployer.lab.system import _children_map

    kids = _children_map()
    seen: set[int] = set()
    stack = list(pids.values())
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(kids.get(pid, []))
    total = 0
    for pid in seen:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total / 1024


def light_lab_left() -> bool:
    """Is a light lab's shared engine still up (its namespace `dl<name>-engine`)?"""
    netns = Path("/var/run/netns")
    return netns.exists() and any(
        p.name.startswith("dl") and p.name.endswith(f"-{ENGINE}") for p in netns.iterdir()
    )
