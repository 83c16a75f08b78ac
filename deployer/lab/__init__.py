"""`deployer lab`: throw-away real hosts on this machine.

Each host: its own network namespace and address on a lab bridge, its own sshd
(own host key, private /tmp and state folder) and, but for the bastion, its own
Docker engine. Behind the bastion, a private host. Two registries (plain HTTP,
and TLS with password auth) hold the demo images built from examples/; a third, the
lab's Docker Hub, is every engine's registry mirror and answers Docker Hub names
(nginx, busybox, deployer/demo-web), built here from Debian's packages.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from deployer.errors import LabError
from deployer.lab import fleet, images, neigh, net, services, users
from deployer.lab import swarm as labswarm
from deployer.lab.layout import (
    BUILDER,
    DEPLOY_USER,
    ENGINE,
    HUB_DEMO_IMAGES,
    OPS_USER,
    PASSWORD_USER,
    REGISTRY_USER,
    LabHost,
    Layout,
    make_layout,
)
from deployer.lab.system import (
    alive,
    check_prerequisites,
    kill_trees,
    netns_pids,
    pids_matching,
    unmount_under,
    wait_for,
)

DEFAULT_DIR = Path(".lab")
DEFAULT_INVENTORY = Path("inventories/lab.yml")

__all__ = ["LabInfo", "up", "down", "status", "make_layout"]


@dataclass
class LabInfo:
    layout: Layout
    inventory: Path
    seconds: float


def up(layout: Layout, inventory: Path, swarm: bool = False) -> LabInfo:
    """Bring the lab up. Should that fail (or be interrupted) midway, everything it made so
    far is removed again (as by `down`) before the error goes on. `swarm`: the web hosts
    also make one Docker Swarm (h1 its manager; lab/swarm.py)."""
    covers = [
        t for t in services.PRIVATE_MOUNTS if Path(t) == layout.dir or layout.dir in Path(t).parents
    ]
    if covers:
        raise LabError(
            f"--dir {layout.dir}: the lab's hosts get their own {covers[0]}; "
            f"choose a folder inside it or elsewhere (e.g. {covers[0].rstrip('/')}/lab)"
        )
    check_prerequisites()
    started = time.monotonic()
    if layout.dir.exists() and any(layout.dir.iterdir()) and not layout.state_file.exists():
        raise LabError(f"{layout.dir} is not empty and holds no lab; choose an empty or new --dir")
    down(layout, inventory=None)
    try:
        _up(layout, inventory, swarm)
    except BaseException as err:
        left = down(layout, inventory=None)
        if left and isinstance(err, LabError):
            raise LabError(f"{err}\n(cleaning up after it left behind: {', '.join(left)})") from err
        raise
    return LabInfo(layout, inventory, time.monotonic() - started)


def _up(layout: Layout, inventory: Path, swarm: bool = False) -> None:
    layout.dir.mkdir(parents=True, exist_ok=True)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    # Mount points the hosts' private folders need; those we create, `down` removes.
    made = [t for t in services.PRIVATE_MOUNTS if not Path(t).exists()]
    for target in made:
        Path(target).mkdir(parents=True, exist_ok=True)  # a second lab may race us to it
    (layout.dir / "made-mount-points").write_text("".join(f"{t}\n" for t in made))
    _save_state(layout, inventory, {})
    if layout.light:
        _up_light(layout, inventory)
        return
    net.create(layout)
    services.make_client_key(layout)
    users.make_users(layout)
    services.empty_bashrc(layout)
    hosts = layout.hosts()
    pids: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for host, pid in zip(
            hosts, pool.map(lambda h: services.start_sshd(layout, h), hosts), strict=False
        ):
            pids[f"{host.name}/sshd"] = pid
    for host in hosts:
        if host.has_engine:
            pids[f"{host.name}/dockerd"] = services.start_dockerd(layout, host)
    for kind, pid in services.start_registries(layout).items():
        pids[f"registry/{kind}"] = pid
    _save_state(layout, inventory, pids)
    for host in hosts:
        wait_for(
            lambda h=host: services.port_open(h.address, 22) if h.role != "private" else True,
            f"sshd of {host.name}",
            log=host.data_dir / "sshd.log",
        )
        if host.has_engine:
            wait_for(
                lambda h=host: services.engine_ready(h),
                f"docker engine of {host.name}",
                timeout=60,
                log=host.data_dir / "dockerd.log",
            )
    layout.known_hosts.write_text("".join(services.host_key_line(h) + "\n" for h in hosts))
    builder = next(h for h in hosts if h.name == BUILDER)
    base_images = images.build_and_push(layout, builder)
    pids["registry/hub"] = services.start_hub(layout, pids["registry/hub"])
    _save_state(layout, inventory, pids)
    if swarm:
        labswarm.make_swarm(layout)
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_text(inventory_yaml(layout, base_images, swarm=swarm))


def _up_light(layout: Layout, inventory: Path) -> None:
    """A light lab (deployer/lab/fleet.py): sshd-only hosts, one shared engine."""
    started = time.monotonic()
    services.make_client_key(layout)
    users.make_users(layout)
    services.empty_bashrc(layout)
    pids, times = fleet.start(layout)
    _save_state(layout, inventory, pids)
    for kind, pid in services.start_registries(layout).items():
        pids[f"registry/{kind}"] = pid
    _save_state(layout, inventory, pids)
    layout.known_hosts.write_text(fleet.known_hosts(layout))
    t_images = time.monotonic()
    base_images = images.build_and_push(layout, fleet.engine_host(layout))
    pids["registry/hub"] = services.start_hub(layout, pids["registry/hub"])
    times["images"] = time.monotonic() - t_images
    times["total"] = time.monotonic() - started
    _save_state(layout, inventory, pids, {"seconds": times, "memory_mb": fleet.memory_mb(pids)})
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_text(inventory_yaml(layout, base_images))


def inventory_yaml(
    layout: Layout, base_images: dict[str, str] | None = None, swarm: bool = False
) -> str:
    """The lab's inventory. `base_images`: what the hub serves under pinned Docker Hub
    names ({"nginx": "nginx:1.22", ...}), as `lab_hub_<name>` variables. `swarm`: groups
    `swarm_managers` (h1) and `swarm_workers` (the other web hosts) too."""
    hosts = layout.hosts()
    hub_vars = {f"lab_hub_image_{kind}": name for kind, name in HUB_DEMO_IMAGES.items()}
    hub_vars |= {f"lab_hub_{name}": image for name, image in (base_images or {}).items()}
    doc = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(layout.key_file),
                "deployer_known_hosts": str(layout.known_hosts),
                "lab_registry": layout.registry,
                "lab_registry_tls": layout.registry_tls,
                "lab_registry_user": REGISTRY_USER,
                "lab_registry_password_file": str(layout.password_file),
                "lab_ssh_password_user": PASSWORD_USER,
                "lab_ssh_password_file": str(layout.ssh_password_file),
                # logins as real fleets have them: `-e ansible_user=deploy` (the docker
                # group), or ops with -e ansible_become=true and the sudo password
                "lab_deploy_user": DEPLOY_USER,
                "lab_ops_user": OPS_USER,
                "lab_ops_password_file": str(layout.ops_password_file),
                "lab_image_v1": layout.image("v1"),
                "lab_image_v2": layout.image("v2"),
                "lab_image_unhealthy": layout.image("unhealthy"),
                "lab_image_crash": layout.image("crash"),
                "lab_image_proxy": layout.image("proxy"),
                # the lab's build of Caddy from Debian's package (no Docker Hub here)
                "deployer_proxy_image": layout.image("proxy"),
                # Docker Hub names (nginx:1.22, deployer/demo-web:v1) are served by the
                # lab's hub, every engine's registry mirror; pushes go to the TLS registry
                "lab_registry_hub": layout.registry_hub,
                "lab_push_registry": layout.registry_tls,
                **hub_vars,
            },
            "children": _groups(layout, hosts),
        }
    }
    if swarm:
        children: dict[str, object] = doc["all"]["children"]  # type: ignore[assignment]
        web = [h for h in hosts if h.role == "web"]
        children["swarm_managers"] = {"hosts": {web[0].name: {}}}
        children["swarm_workers"] = {"hosts": {h.name: {} for h in web[1:]}}
    if not layout.light:  # `deployer build` / `deploy --build` build on this web host, over SSH
        doc["all"]["vars"]["deployer_builder"] = BUILDER  # type: ignore[index]
    head = f"# Written by `deployer lab up` (lab {layout.name!r}); `deployer lab down` removes the lab.\n"
    return head + yaml.safe_dump(doc, sort_keys=False)


def _groups(layout: Layout, hosts: list[LabHost]) -> dict[str, object]:
    if layout.light:  # lab_engine: the shared engine's leg on that host's bridge
        return {
            "web": {
                "hosts": {
                    h.name: {
                        "ansible_host": h.address,
                        "lab_engine": layout.engine_address(layout.bridge_of(i)),
                    }
                    for i, h in enumerate(hosts)
                    if h.role == "web"
                }
            }
        }
    bastion = next(h for h in hosts if h.role == "bastion")
    return {
        "web": {"hosts": {h.name: {"ansible_host": h.address} for h in hosts if h.role == "web"}},
        "bastions": {"hosts": {bastion.name: {"ansible_host": bastion.address}}},
        "private": {
            "hosts": {
                h.name: {
                    "ansible_host": h.address,
                    "deployer_ssh_jump": f"root@{bastion.address}",
                }
                for h in hosts
                if h.role == "private"
            }
        },
    }


def _save_state(
    layout: Layout,
    inventory: Path | None,
    pids: dict[str, int],
    extra: dict[str, object] | None = None,
) -> None:
    state = {
        "name": layout.name,
        "hosts": layout.hosts_count,
        "light": layout.light,
        **(extra or {}),
        "dir": str(layout.dir),
        "inventory": str(inventory.resolve()) if inventory else None,
        "pids": pids,
    }
    layout.state_file.write_text(json.dumps(state, indent=1))


def load_state(layout: Layout) -> dict[str, object]:
    try:
        data = json.loads(layout.state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def down(layout: Layout, inventory: Path | None) -> list[str]:
    """Remove everything this lab made. Safe to run when nothing is up. Returns leftovers."""
    check_prerequisites()
    state = load_state(layout)
    pids: set[int] = set()
    for netns in net.lab_netns(layout):
        pids |= netns_pids(netns)
    pids |= pids_matching([str(layout.run_dir) + "/", str(layout.dir) + "/"])
    saved = state.get("pids")
    if isinstance(saved, dict):
        pids |= {int(p) for p in saved.values() if alive(int(p))}
    kill_trees(pids)
    unmount_under([layout.dir, layout.run_dir])
    net.destroy(layout)
    if not fleet.light_lab_left():  # the last light lab gone: the neighbour table as found
        neigh.restore()
    shutil.rmtree(layout.certs_d, ignore_errors=True)
    _remove_empty_parents(layout.certs_d.parent, stop=Path("/etc/docker"))
    shutil.rmtree(layout.run_dir, ignore_errors=True)
    _remove_made_mount_points(layout)
    recorded = state.get("inventory")
    for inv in {inventory, Path(recorded) if isinstance(recorded, str) else None}:
        if (
            inv is not None
            and inv.exists()
            and inv.read_text().startswith("# Written by `deployer lab up`")
        ):
            inv.unlink()
    if layout.state_file.exists():  # only ever delete a folder that a lab made
        shutil.rmtree(layout.dir, ignore_errors=True)
    return leftovers(layout)


def _remove_made_mount_points(layout: Layout) -> None:
    """Remove the mount points `up` created, once empty and no other lab uses them."""
    try:
        made = (layout.dir / "made-mount-points").read_text().split()
    except OSError:
        return
    netns = Path("/var/run/netns")
    if netns.exists() and any(p.name.startswith("dl") and "-" in p.name for p in netns.iterdir()):
        return  # another lab's hosts still bind over them
    for target in made:
        path = Path(target)
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _remove_empty_parents(path: Path, stop: Path) -> None:
    while path != stop and path.exists() and not any(path.iterdir()):
        path.rmdir()
        path = path.parent


def leftovers(layout: Layout) -> list[str]:
    found = net.leftovers(layout)
    pids = pids_matching([str(layout.run_dir) + "/", str(layout.dir) + "/"])
    found += [f"process {p}" for p in sorted(pids)]
    for path in (layout.run_dir, layout.certs_d, layout.dir):
        if path.exists():
            found.append(f"path {path}")
    return found


def _light_summary(layout: Layout, saved: dict[str, object]) -> tuple[str, str, str]:
    hosts = [h for h in layout.hosts() if h.name != ENGINE]
    up_ = sum(1 for h in hosts if alive(_pid(saved.get(f"{h.name}/sshd"))))
    where = f"{hosts[0].address}..{hosts[-1].address}"
    return (f"{len(hosts)} light hosts", where, f"sshd up on {up_}, shared engine")


def _pid(value: object) -> int | None:
    return value if isinstance(value, int) else None


def status(layout: Layout) -> list[tuple[str, str, str]]:
    """(what, address, state) rows."""
    state = load_state(layout)
    saved = state.get("pids") if isinstance(state.get("pids"), dict) else {}
    assert isinstance(saved, dict)
    rows = []
    if layout.light:
        rows.append(_light_summary(layout, saved))
    for host in layout.hosts():
        if layout.light and host.name != ENGINE:
            continue
        parts = []
        for svc in ("sshd", "dockerd"):
            key = f"{host.name}/{svc}"
            if key in saved:
                parts.append(f"{svc} {'up' if alive(int(saved[key])) else 'DOWN'}")
        rows.append((f"{host.name} ({host.role})", host.address, ", ".join(parts) or "not up"))
    for kind, addr in (
        ("plain", layout.registry),
        ("tls", layout.registry_tls),
        ("hub", layout.registry_hub),
    ):
        key = f"registry/{kind}"
        up_ = key in saved and alive(int(saved[key]))
        rows.append((f"registry ({kind})", addr, "up" if up_ else "not up"))
    return rows
