"""A playbook container as a Swarm service spec (the Engine API's ServiceSpec). Pure.

- `ports` with `swarm.publish` (ingress or host), `swarm.endpoint_mode`;
- `replicas` / `mode: global`; `serial`/`max_fail_percentage` -> UpdateConfig
  (parallelism, failure action rollback, start-first unless a host-mode port would clash
  on a node), the same for RollbackConfig;
- `secret_env` -> Swarm secrets mounted at /run/secrets/deployer_env_KEY; a small shell
  wrapper (the image needs /bin/sh) exports them before exec'ing the image's own command.
  No value is ever in the spec's Env, labels or a command line;
- `health` -> the service's Healthcheck (http: wget, else curl, in the image; docker: the
  image's own HEALTHCHECK);
- the public spec (secret names, never values) and its hash in the service's labels:
  the next deploy compares them (no-op) and `--diff` shows what changes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from deployer.docker.shell import sh
from deployer.model import ContainerSpec, HealthSpec, SwarmSpec, spec_public

LABEL_MANAGED = "deployer.managed"
LABEL_SPEC = "deployer.spec"
LABEL_HASH = "deployer.spec-hash"
SECRET_PREFIX = "deployer_env_"  # file name under /run/secrets
NS = 1_000_000_000
# Exports every /run/secrets/deployer_env_KEY as KEY, then runs the image's command.
ENV_WRAPPER = (
    'for f in /run/secrets/deployer_env_*; do [ -f "$f" ] || continue; '
    'k="${f##*/deployer_env_}"; export "$k=$(cat "$f")"; done; exec "$@"'
)


@dataclass(frozen=True)
class ImageConfig:
    """The image's own entrypoint and command (needed only to wrap them for secret_env)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretRef:
    key: str  # the env variable
    name: str  # the Swarm secret's name (changes with its value)
    id: str = ""  # "" until it exists (--check)


def swarm_of(spec: ContainerSpec) -> SwarmSpec:
    return spec.swarm or SwarmSpec()


def has_host_ports(spec: ContainerSpec) -> bool:
    return bool(spec.ports) and swarm_of(spec).publish == "host"


def parallelism(serial: tuple[int | str, ...], tasks: int) -> int:
    """Tasks updated at once: the play's first `serial` batch (a number, or a percentage of
    the tasks), 0 (all at once) without serial."""
    if not serial:
        return 0
    first = serial[0]
    if isinstance(first, int):
        return first
    return max(1, math.ceil(float(first.rstrip("%")) * tasks / 100))


def update_order(spec: ContainerSpec) -> str:
    """start-first: the new task runs next to the old before the old stops. Not with ports
    published in host mode: the new task could not bind the node's port the old one holds,
    and would wait for a node that has it free."""
    return "stop-first" if has_host_ports(spec) else "start-first"


def update_config(
    spec: ContainerSpec, serial: tuple[int | str, ...], max_fail: float | None, tasks: int
) -> dict[str, Any]:
    sw = swarm_of(spec)
    return {
        "Parallelism": parallelism(serial, tasks),
        "Delay": int(sw.update_delay * NS),
        "FailureAction": "rollback",
        "Monitor": int(sw.monitor * NS),
        "MaxFailureRatio": (max_fail or 0.0) / 100,
        "Order": update_order(spec),
    }


def rollback_config(
    spec: ContainerSpec, serial: tuple[int | str, ...], tasks: int
) -> dict[str, Any]:
    sw = swarm_of(spec)
    return {
        "Parallelism": parallelism(serial, tasks),
        "Delay": 0,
        "FailureAction": "pause",
        "Monitor": int(sw.monitor * NS),
        "MaxFailureRatio": 0.0,
        "Order": update_order(spec),
    }


def healthcheck(health: HealthSpec) -> dict[str, Any] | None:
    """The service's Healthcheck; None: the image's own (kind docker, or none)."""
    if health.kind not in ("http", "tcp") or health.port is None:
        return None
    if health.kind == "http":
        url = f"http://127.0.0.1:{health.port}{health.path}"
        test = (
            f"{sh(['wget', '-q', '-O', '/dev/null', url])} || "
            f"{sh(['curl', '-fsS', '-o', '/dev/null', url])}"
        )
    else:
        test = sh(["nc", "-z", "127.0.0.1", str(health.port)])
    interval = max(health.interval, 0.5)
    return {
        "Test": ["CMD-SHELL", test],
        "Interval": int(interval * NS),
        "Timeout": int(max(interval, 2.0) * NS),
        "Retries": 3,
        "StartPeriod": int(health.timeout * NS),
    }


def restart_policy(restart: str) -> dict[str, Any]:
    if restart == "no":
        return {"Condition": "none"}
    if restart.startswith("on-failure"):
        _, _, n = restart.partition(":")
        return {"Condition": "on-failure", **({"MaxAttempts": int(n)} if n else {})}
    return {"Condition": "any"}


def mount(volume: str) -> dict[str, Any]:
    """docker -v text ("/srv:/data:ro", "name:/data", "/data") as a service mount."""
    parts = volume.split(":")
    if len(parts) == 1:
        return {"Type": "volume", "Target": parts[0]}
    source, target = parts[0], parts[1]
    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
    kind = "bind" if source.startswith("/") else "volume"
    return {"Type": kind, "Source": source, "Target": target, "ReadOnly": read_only}


def ports(spec: ContainerSpec) -> list[dict[str, Any]]:
    mode = swarm_of(spec).publish
    out = []
    for p in spec.ports:
        port: dict[str, Any] = {
            "Protocol": p.protocol,
            "TargetPort": p.container_port,
            "PublishMode": mode,
        }
        if p.host_port is not None:
            port["PublishedPort"] = p.host_port
        out.append(port)
    return out


def public(
    spec: ContainerSpec,
    serial: tuple[int | str, ...],
    max_fail: float | None,
    secrets: tuple[SecretRef, ...],
    tasks: int,
) -> dict[str, Any]:
    """What the service is, as shown in its label and in --diff: secret names, no values."""
    sw = swarm_of(spec)
    out = spec_public(spec)
    out.pop("secret_env", None)
    out["secrets"] = {s.key: s.name for s in secrets}
    out["swarm"] = {
        "mode": sw.mode,
        "replicas": sw.replicas if sw.mode == "replicated" else None,
        "publish": sw.publish,
        "endpoint_mode": sw.endpoint_mode,
        "health": [spec.health.kind, spec.health.port, spec.health.path, spec.health.timeout],
        "update": update_config(spec, serial, max_fail, tasks),
    }
    return out


def public_hash(data: dict[str, Any]) -> str:
    return "s1-" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def service_spec(
    spec: ContainerSpec,
    serial: tuple[int | str, ...],
    max_fail: float | None,
    secrets: tuple[SecretRef, ...],
    tasks: int,
    image: ImageConfig | None = None,
    force_update: int = 0,
) -> dict[str, Any]:
    """The ServiceSpec to create or update the service with. `tasks`: how many tasks it
    runs (its replicas, or the nodes of a global service), for percentage batches."""
    sw = swarm_of(spec)
    data = public(spec, serial, max_fail, secrets, tasks)
    container: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{k}={v}" for k, v in spec.env],
        "Labels": dict(spec.labels),
        "Mounts": [mount(v) for v in spec.volumes],
        "StopGracePeriod": spec.stop_timeout * NS,
    }
    check = healthcheck(spec.health)
    if check is not None:
        container["Healthcheck"] = check
    if secrets:
        img = image or ImageConfig()
        container["Secrets"] = [
            {
                "SecretID": s.id,
                "SecretName": s.name,
                "File": {"Name": SECRET_PREFIX + s.key, "UID": "0", "GID": "0", "Mode": 0o400},
            }
            for s in secrets
        ]
        container["Command"] = ["/bin/sh", "-c", ENV_WRAPPER, "deployer-env"]
        cmd = list(spec.command) if spec.command is not None else list(img.cmd)
        container["Args"] = [*img.entrypoint, *cmd]
    elif spec.command is not None:
        container["Args"] = list(spec.command)
    mode: dict[str, Any] = (
        {"Global": {}} if sw.mode == "global" else {"Replicated": {"Replicas": sw.replicas}}
    )
    return {
        "Name": spec.name,
        "Labels": {
            LABEL_MANAGED: "true",
            LABEL_SPEC: json.dumps(data, sort_keys=True),
            LABEL_HASH: public_hash(data),
        },
        "TaskTemplate": {
            "ContainerSpec": container,
            "RestartPolicy": restart_policy(spec.restart),
            "ForceUpdate": force_update,
        },
        "Mode": mode,
        "UpdateConfig": update_config(spec, serial, max_fail, tasks),
        "RollbackConfig": rollback_config(spec, serial, tasks),
        "EndpointSpec": {"Mode": sw.endpoint_mode, "Ports": ports(spec)},
    }


def recorded(service: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(hash, public spec) a service was last deployed with by deployer ("", {} if none)."""
    labels = (service.get("Spec") or {}).get("Labels") or {}
    try:
        data = json.loads(labels.get(LABEL_SPEC) or "{}")
    except ValueError:
        data = {}
    return str(labels.get(LABEL_HASH) or ""), data if isinstance(data, dict) else {}


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`key: old -> new` lines, one per changed top-level field."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"{key}: {_short(old.get(key))} -> {_short(new.get(key))}")
    return lines


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:200] + "..."
