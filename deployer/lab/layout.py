"""Names, addresses and paths of one lab. Pure: no I/O.

Everything a lab makes carries its name, so that `down` can find and remove it
even when the state file is lost.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
MAX_HOSTS = 60
# A light lab (`lab up --light`, deployer/lab/fleet.py): sshd-only hosts sharing one engine.
MAX_LIGHT_HOSTS = 1000
HOSTS_PER_BRIDGE = 240  # .10-.249 of a /24; a Linux bridge takes at most 1024 ports
LIGHT_BRIDGES = 5  # /24s per light lab: up to 1200 hosts
ENGINE = "engine"  # a light lab's one shared engine (own namespace, a leg on every bridge)
PLAIN_PORT = 5000
TLS_PORT = 5443
HUB_PORT = 5001  # the lab's Docker Hub: every engine's registry mirror (anonymous pulls)
REGISTRY_USER = "deployer"
PASSWORD_USER = "labpw"
# Logins as real fleets have them (docs/playbook.md, "Logging in"): DEPLOY_USER is in the
# group of each engine's socket and nothing more; OPS_USER may only sudo, with a password.
DEPLOY_USER = "deploy"
OPS_USER = "ops"
# The inventory's deployer_builder: a web host, as a small fleet builds where it deploys.
# A dedicated builder would cost an engine more (memory, bring-up) on every lab and add a
# host to the inventory that `health`, `ps` and all-host tests would meet; the lab itself
# builds its images on h1 too, and leaves its engine bare afterwards.
BUILDER = "h1"

# The demo images by Docker Hub-style names, as a user writes them; the lab's mirror
# serves them (on the real Docker Hub, the `deployer` account is not the project's).
HUB_DEMO_IMAGES = {
    "v1": "deployer/demo-web:v1",
    "v2": "deployer/demo-web:v2",
    "unhealthy": "deployer/demo-unhealthy:1",
    "crash": "deployer/demo-crash:1",
}  # a uid-0 login that only the lab's sshds know, for password auth


@dataclass(frozen=True)
class LabHost:
    name: str  # inventory name: h1.., bastion, p1
    netns: str
    address: str
    role: str  # "web", "bastion", "private"
    has_engine: bool
    run_dir: Path  # short paths: sockets, pidfiles, exec-root
    data_dir: Path  # docker data-root, host key, sshd config, logs
    # a light host's sshd points DOCKER_HOST here: the light lab's one shared engine
    shared_engine: str = ""

    @property
    def docker_sock(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_sock}"


@dataclass(frozen=True)
class Layout:
    name: str
    dir: Path  # persistent files of the lab
    hosts_count: int
    light: bool = False  # sshd-only hosts on several bridges, one shared engine

    @property
    def light_base(self) -> int:
        """A light lab's first third octet in 10.203.0.0/16 (never the 10.201/10.202 of the
        full labs): LIGHT_BRIDGES consecutive /24s, stable per lab name."""
        return zlib.crc32(self.name.encode()) % (250 // LIGHT_BRIDGES) * LIGHT_BRIDGES

    @property
    def third_octet(self) -> int:
        # Stable per lab name, so two labs (demo and tests) can coexist.
        return 10 + zlib.crc32(self.name.encode()) % 240

    @property
    def prefix(self) -> str:
        return f"dl{self.name}"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"[:15]

    @property
    def subnet(self) -> str:
        if self.light:
            return self.light_subnet(0)
        return f"10.201.{self.third_octet}.0/24"

    # ---------------------------------------------------------------- light labs
    @property
    def bridge_count(self) -> int:
        return -(-self.hosts_count // HOSTS_PER_BRIDGE) if self.light else 1

    def light_bridge(self, k: int) -> str:
        return f"{self.prefix}b{k}"

    def light_subnet(self, k: int) -> str:
        return f"10.203.{self.light_base + k}.0/24"

    def light_gateway(self, k: int) -> str:
        return f"10.203.{self.light_base + k}.1"

    def engine_address(self, k: int) -> str:
        """The shared engine's leg on bridge k: light hosts reach containers through it."""
        return f"10.203.{self.light_base + k}.2"

    def engine_veth(self, k: int) -> str:
        return f"{self.prefix}e{k}"

    def bridge_of(self, index: int) -> int:
        """Bridge of the index-th light host (0-based)."""
        return index // HOSTS_PER_BRIDGE

    @property
    def private_subnet(self) -> str:
        return f"10.202.{self.third_octet}.0/24"

    @property
    def gateway(self) -> str:
        if self.light:
            return self.light_gateway(0)
        return f"10.201.{self.third_octet}.1"

    @property
    def run_dir(self) -> Path:
        return Path(f"/run/deployer-lab-{self.name}")

    @property
    def registry(self) -> str:
        return f"{self.gateway}:{PLAIN_PORT}"

    @property
    def registry_tls(self) -> str:
        return f"{self.gateway}:{TLS_PORT}"

    @property
    def registry_hub(self) -> str:
        """The registry that answers for Docker Hub: `nginx:1.22` or `user/app:1` pulled on a
        lab host comes from here (each engine's --registry-mirror)."""
        return f"{self.gateway}:{HUB_PORT}"

    @property
    def hub_mirror(self) -> str:
        return f"http://{self.registry_hub}"

    @property
    def certs_d(self) -> Path:
        return Path("/etc/docker/certs.d") / self.registry_tls

    @property
    def key_file(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def password_file(self) -> Path:
        return self.dir / "registry-password"

    @property
    def ssh_password_file(self) -> Path:
        return self.dir / "ssh-password"

    @property
    def ops_password_file(self) -> Path:
        return self.dir / "ops-sudo-password"

    @property
    def auth_dir(self) -> Path:
        """passwd/shadow/group/sudoers copies with the lab's users, bound over /etc inside
        each sshd's own mount namespace: the machine's real files never change."""
        return self.dir / "auth"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def image(self, kind: str, registry: str | None = None) -> str:
        reg = registry or self.registry
        return {
            "v1": f"{reg}/demo/web:v1",
            "v2": f"{reg}/demo/web:v2",
            "unhealthy": f"{reg}/demo/unhealthy:1",
            "crash": f"{reg}/demo/crash:1",
            "proxy": f"{reg}/library/caddy:2.6",
        }[kind]

    def veth(self, index: int) -> str:
        return f"{self.prefix}v{index}"[:15]

    def owns_link(self, ifname: str) -> bool:
        """Is this root-namespace link one of ours? Exact names only: lab "t" (prefix
        dlt) must not take lab "td"'s links (dltdbr, dltdv0) for its own."""
        return (
            ifname == self.bridge
            or re.fullmatch(re.escape(self.prefix) + r"[vbe][0-9]+", ifname) is not None
        )

    def hosts(self) -> list[LabHost]:
        if self.light:
            return self._light_hosts()
        o = self.third_octet
        out = [
            self._host(f"h{i}", "web", f"10.201.{o}.{10 + i}", True)
            for i in range(1, self.hosts_count + 1)
        ]
        out.append(self._host("bastion", "bastion", f"10.201.{o}.2", False))
        out.append(self._host("p1", "private", f"10.202.{o}.2", True))
        return out

    def _host(self, name: str, role: str, address: str, engine: bool) -> LabHost:
        return LabHost(
            name=name,
            netns=f"{self.prefix}-{name}",
            address=address,
            role=role,
            has_engine=engine,
            run_dir=self.run_dir / name,
            data_dir=self.dir / "hosts" / name,
        )

    def _light_hosts(self) -> list[LabHost]:
        engine = self._host(ENGINE, "engine", self.engine_address(0), True)
        out = []
        for i in range(self.hosts_count):
            k, slot = self.bridge_of(i), i % HOSTS_PER_BRIDGE
            address = f"10.203.{self.light_base + k}.{10 + slot}"
            host = self._host(f"h{i + 1}", "web", address, False)
            out.append(replace(host, shared_engine=engine.docker_host))
        return [*out, engine]

    @property
    def bastion_inner(self) -> str:
        return f"10.202.{self.third_octet}.1"


def make_layout(name: str, dir: Path, hosts: int, light: bool = False) -> Layout:
    from deployer.errors import LabError

    if not NAME_RE.fullmatch(name):  # not .match: "$" also matches before a final "\n"
        raise LabError(
            f"lab name {name!r}: use 1-6 lowercase letters/digits, starting with a letter"
        )
    most = MAX_LIGHT_HOSTS if light else MAX_HOSTS
    if not 1 <= hosts <= most:
        kind = "a light lab" if light else "a lab (more with --light)"
        raise LabError(f"--hosts {hosts}: {kind} has 1 to {most} hosts")
    return Layout(name=name, dir=dir.resolve(), hosts_count=hosts, light=light)
