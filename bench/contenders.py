"""The four contenders: each turns (scenario, image, hosts) into one command line to time.

Every contender deploys the same container (name `web`, image lab_image_v1/v2,
port 8080:80 published) and waits for the same health condition: HTTP 200 on
http://<host>:8080/ . Generated files go to a work folder; nothing here runs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONTAINER = "web"
PORT = "8080:80"
POLL = 0.25  # seconds between health polls, for every contender
RETRIES = 240  # 60 s at POLL

CONTENDERS = ("deployer", "floor", "ansible", "pyinfra")
SCENARIOS = ("first_deploy", "rollout", "noop", "health")


@dataclass
class Lab:
    inventory: Path  # the lab's lab.yml
    name: str
    key: str
    known_hosts: str
    images: dict[str, str]  # v1/v2 -> reference
    hosts: dict[str, str]  # h1.. -> address (all web hosts of the lab)

    @classmethod
    def load(cls, inventory: Path, name: str) -> Lab:
        data = yaml.safe_load(inventory.read_text())
        v = data["all"]["vars"]
        web = data["all"]["children"]["web"]["hosts"]
        return cls(
            inventory=inventory,
            name=name,
            key=v["ansible_ssh_private_key_file"],
            known_hosts=v["deployer_known_hosts"],
            images={"v1": v["lab_image_v1"], "v2": v["lab_image_v2"]},
            hosts={h: d["ansible_host"] for h, d in web.items()},
        )

    def first(self, n: int) -> dict[str, str]:
        names = sorted(self.hosts, key=lambda h: int(h[1:]))[:n]
        return {h: self.hosts[h] for h in names}

    def sub_inventory(self, n: int, path: Path) -> Path:
        """lab.yml with only the first n web hosts (and no bastion/private host)."""
        data = yaml.safe_load(self.inventory.read_text())
        keep = self.first(n)
        data["all"]["children"] = {
            "web": {"hosts": {h: {"ansible_host": a} for h, a in keep.items()}}
        }
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def ssh(self, address: str) -> list[str]:
        return [
            "ssh",
            "-i",
            self.key,
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            f"root@{address}",
        ]


def poll_script(address: str) -> str:
    return (
        f"i=0; until curl -fsS -o /dev/null http://{address}:8080/; do i=$((i+1)); "
        f"[ $i -ge {RETRIES} ] && exit 1; sleep {POLL}; done"
    )


# ---------------------------------------------------------------- deployer
def deployer_files(
    work: Path, versions: tuple[str, ...] = ("v1", "v2"), proxy: bool = False
) -> dict[str, Path]:
    """deployer-<version>.yml: `web` publishing 8080:80 (ports mode); with proxy,
    deployer-proxy-<version>.yml: `web` behind the host's proxy (public port 80), same gate."""
    out = {}
    for version in versions:
        # pull: missing, as every anchor does (none of them asks the registry again for an
        # image the host has); deployer's default, always, adds that check per host and image
        web: dict[str, Any] = {
            "name": CONTAINER,
            "image": "{{ lab_image_" + version + " }}",
            "pull": "missing",
        }
        if proxy:
            web["proxy"] = {"port": 80}
        else:
            web["ports"] = [PORT]
        web["health"] = {
            "http": {"path": "/"} if proxy else {"port": 80, "path": "/"},
            "timeout": "60s",
            "interval": f"{int(POLL * 1000)}ms",
        }
        p = work / f"deployer-{'proxy-' if proxy else ''}{version}.yml"
        p.write_text(
            yaml.safe_dump(
                [{"name": "bench web", "hosts": "web", "containers": [web]}], sort_keys=False
            )
        )
        out[version] = p
    return out


def deployer_argv(
    exe: str, scenario: str, version: str, inv: Path, n: int, work: Path, proxy: bool = False
) -> list[str]:
    pb = work / f"deployer-{'proxy-' if proxy else ''}{version}.yml"
    if scenario == "health":
        return [
            exe,
            "health",
            "-i",
            str(inv),
            str(pb),
            "--output",
            "json",
            "--forks",
            str(max(n, 1)),
        ]
    # --no-summary: the closing health report is extra work no other contender does.
    return [
        exe,
        "deploy",
        str(pb),
        "-i",
        str(inv),
        "--output",
        "json",
        "--forks",
        str(max(n, 1)),
        "--no-summary",
    ]


# ---------------------------------------------------------------- floor: one ssh per host
def floor_remote(scenario: str, image: str, address: str) -> str:
    deploy = (
        f"docker pull -q {shlex.quote(image)} >/dev/null && "
        f"{{ docker stop {CONTAINER} >/dev/null 2>&1; docker rm {CONTAINER} >/dev/null 2>&1; true; }} && "
        f"docker run -d --name {CONTAINER} -p {PORT} {shlex.quote(image)} >/dev/null && "
        + poll_script(address)
    )
    if scenario == "noop":  # the least an idempotent tool can do: look, find it right, stop
        want = shlex.quote(f"{image} true")
        return (
            f"[ \"$(docker inspect -f '{{{{.Config.Image}}}} {{{{.State.Running}}}}' {CONTAINER} "
            f'2>/dev/null)" = {want} ] || {{ {deploy}; }}'
        )
    if scenario == "health":
        return (
            f"docker ps --filter name=^{CONTAINER}$ --format '{{{{.Names}}}} {{{{.Image}}}} "
            f"{{{{.Status}}}}' && curl -fsS -o /dev/null -w '%{{http_code}}\\n' http://{address}:8080/"
        )
    return deploy


def floor_argv(lab: Lab, scenario: str, image: str, hosts: dict[str, str], work: Path) -> list[str]:
    lines = ["#!/bin/bash", "pids=()"]
    for addr in hosts.values():
        argv = lab.ssh(addr) + [floor_remote(scenario, image, addr)]
        lines.append(" ".join(shlex.quote(a) for a in argv) + " >/dev/null & pids+=($!)")
    lines += ["rc=0", 'for p in "${pids[@]}"; do wait "$p" || rc=1; done', "exit $rc"]
    script = work / f"floor-{scenario}.sh"
    script.write_text("\n".join(lines) + "\n")
    return ["bash", str(script)]


# ---------------------------------------------------------------- ansible
def ansible_files(lab: Lab, venv: Path, work: Path, n: int, deadline: float = 0) -> None:
    """deadline > 0: poll the page for that many seconds rather than RETRIES tries (a `uri`
    try is a module run over SSH: on a loaded machine 240 of them take minutes)."""
    docker_host = f"unix:///run/deployer-lab-{lab.name}/" + "{{ inventory_hostname }}/docker.sock"
    check: dict[str, Any] = {
        "name": "page answers",
        "ansible.builtin.uri": {"url": "http://{{ ansible_host }}:8080/"},
        "register": "page",
        "until": "page.status == 200",
        "retries": RETRIES,
        "delay": POLL,
    }
    checks = [check]
    if deadline:
        check["until"] = "page.status == 200 or now().timestamp() > bench_deadline | float"
        check["retries"] = 100000
        start = {
            "name": "poll starts",
            "ansible.builtin.set_fact": {
                "bench_deadline": f"{{{{ now().timestamp() + {deadline} }}}}"
            },
        }
        checks = [start, check]
    deploy = [
        {
            "hosts": "web",
            "gather_facts": False,
            "vars": {"dh": docker_host},
            "tasks": [
                {
                    "name": "pull",
                    "community.docker.docker_image": {
                        "name": "{{ bench_image }}",
                        "source": "pull",
                        "docker_host": "{{ dh }}",
                    },
                },
                {
                    "name": "run",
                    "community.docker.docker_container": {
                        "name": CONTAINER,
                        "image": "{{ bench_image }}",
                        "published_ports": [PORT],
                        "state": "started",
                        "docker_host": "{{ dh }}",
                    },
                },
                *checks,
            ],
        }
    ]
    health = [
        {
            "hosts": "web",
            "gather_facts": False,
            "vars": {"dh": docker_host},
            "tasks": [
                {
                    "name": "container",
                    "community.docker.docker_container_info": {
                        "name": CONTAINER,
                        "docker_host": "{{ dh }}",
                    },
                    "register": "info",
                },
                {"name": "page", "ansible.builtin.uri": {"url": "http://{{ ansible_host }}:8080/"}},
            ],
        }
    ]
    (work / "ansible-deploy.yml").write_text(yaml.safe_dump(deploy, sort_keys=False))
    (work / "ansible-health.yml").write_text(yaml.safe_dump(health, sort_keys=False))
    (work / "ansible.cfg").write_text(f"""[defaults]
forks = {max(n, 1)}
host_key_checking = True
interpreter_python = {venv / "bin" / "python"}
gathering = explicit
retry_files_enabled = False
deprecation_warnings = False

[ssh_connection]
pipelining = True
ssh_args = -o UserKnownHostsFile={lab.known_hosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s
""")


def ansible_argv(venv: Path, scenario: str, image: str, inv: Path, work: Path) -> list[str]:
    pb = work / ("ansible-health.yml" if scenario == "health" else "ansible-deploy.yml")
    return [
        str(venv / "bin" / "ansible-playbook"),
        "-i",
        str(inv),
        str(pb),
        "-e",
        json.dumps({"bench_image": image}),
    ]


def ansible_env(work: Path, run_dir: Path) -> dict[str, str]:
    # A fresh ControlPath folder per run: every run starts with cold SSH connections.
    return {
        "ANSIBLE_CONFIG": str(work / "ansible.cfg"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(run_dir),
        "ANSIBLE_LOCAL_TEMP": str(run_dir / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }


# ---------------------------------------------------------------- pyinfra
def pyinfra_files(lab: Lab, hosts: dict[str, str], work: Path) -> Path:
    data = {
        "ssh_user": "root",
        "ssh_key": lab.key,
        "ssh_known_hosts_file": lab.known_hosts,
        "ssh_strict_host_key_checking": "yes",
    }
    inv = work / f"pyinfra_inv_{len(hosts)}.py"
    inv.write_text(
        "web = " + repr([(a, {**data, "bench_name": h}) for h, a in hosts.items()]) + "\n"
    )
    (work / "pyinfra_deploy.py").write_text(f'''from pyinfra import host
from pyinfra.operations import docker, server

addr = host.name
if host.data.get("bench_health"):
    server.shell(name="health", commands=[
        "docker ps --filter name=^{CONTAINER}$ --format '{{{{.Names}}}} {{{{.Image}}}} {{{{.Status}}}}'",
        "curl -fsS -o /dev/null http://%s:8080/" % addr])
else:
    docker.container(name="run web", container="{CONTAINER}", image=host.data.bench_image,
                     ports=["{PORT}"], present=True, start=True, force=bool(host.data.get("bench_force")))
    server.shell(name="page answers", commands=[
        "i=0; until curl -fsS -o /dev/null http://%s:8080/; do i=$((i+1)); "
        "[ $i -ge {RETRIES} ] && exit 1; sleep {POLL}; done" % addr])
''')
    return inv


def pyinfra_argv(venv: Path, scenario: str, image: str, inv: Path, n: int, work: Path) -> list[str]:
    argv = [
        str(venv / "bin" / "pyinfra"),
        "-y",
        "--parallel",
        str(max(n, 1)),
        str(inv),
        str(work / "pyinfra_deploy.py"),
        "--data",
        f"bench_image={image}",
    ]
    if scenario == "health":
        argv += ["--data", "bench_health=1"]
    elif scenario != "noop":  # "docker.container with force"; the no-op keeps pyinfra's own diff
        argv += ["--data", "bench_force=1"]
    return argv


def summary(obj: Any) -> str:
    return json.dumps(obj)[:200]
