"""What a Docker host *is*, as deployer reads it: the inspect formats, the facts script's
lines, their parser, the secret digests, and where a health probe connects. Pure.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

from deployer.docker.labels import LABEL_MANAGED, LABEL_NAME, LABEL_SPEC, LABEL_SPEC_HASH
from deployer.docker.shell import sh
from deployer.model import ContainerSpec, Facts, ImageInfo, Observed

# One line of JSON per container, without its environment (which may hold secrets).
INSPECT_FORMAT = (
    '{"id":{{json .Id}},"name":{{json .Name}},"created":{{json .Created}},'
    '"image_id":{{json .Image}},"image":{{json .Config.Image}},"labels":{{json .Config.Labels}},'
    '"status":{{json .State.Status}},"running":{{json .State.Running}},'
    '"exit_code":{{json .State.ExitCode}},"started_at":{{json .State.StartedAt}},'
    '"finished_at":{{json .State.FinishedAt}},'
    '"health":{{with index .State "Health"}}{{json .Status}}{{else}}null{{end}},'
    '"restarts":{{json .RestartCount}},"ports":{{json .NetworkSettings.Ports}},'
    '"ip":"{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"}'
)
# The container's addresses on its networks, space separated (the first one is probed).
IP_FORMAT = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
MARK_ADDR = "--deployer-addr--"
IMAGE_FORMAT = '{"id":{{json .Id}},"tags":{{json .RepoTags}},"digests":{{json .RepoDigests}}}'

MARK_CONTAINERS = "--deployer-containers--"
MARK_IMAGES = "--deployer-images--"
MARK_SECRETS = "--deployer-secrets--"


def facts_lines(docker: str = "docker", on_error: str = "exit 1") -> list[str]:
    """Print every deployer-managed container as one JSON line each.

    docker: how to call docker (the health script bounds it with `timeout`);
    on_error: what to run when listing fails.
    """
    return [
        f"echo {MARK_CONTAINERS}",
        f"ids=$({docker} ps -aq --filter label={LABEL_MANAGED}=true) || {on_error}",
        f'[ -z "$ids" ] || {docker} inspect --format {shlex.quote(INSPECT_FORMAT)} $ids',
    ]


def secret_digest_lines(specs: Sequence[ContainerSpec], nonce: str) -> list[str]:
    """For each live container with secrets: `name key digest` per secret, digest salted by a
    per-run nonce. The values stay on the host (read from docker, hashed on stdin); nothing
    that outlives the run can be used to test guesses of a secret.
    """
    fmt = shlex.quote("{{range .Config.Env}}{{println .}}{{end}}")
    lines = [f"echo {MARK_SECRETS}"]
    for spec in specs:
        if not spec.secret_env:
            continue
        keys = "|".join(shlex.quote(k) + "=*" for k, _ in spec.secret_env)
        name = shlex.quote(spec.name)
        lines.append(
            f"docker container inspect --format {fmt} {name} 2>/dev/null | while IFS= read -r l; do "
            f'case "$l" in {keys}) printf \'%s %s %s\\n\' {name} "${{l%%=*}}" '
            f'"$(printf \'%s\' {shlex.quote(nonce)}"${{l#*=}}" | sha256sum | cut -c1-64)";; esac; done'
        )
    return lines


def addr_line(container: str) -> str:
    """Print MARK_ADDR and the container's addresses (what the health probes connect to)."""
    return f"echo {MARK_ADDR} $({sh(['docker', 'inspect', '--format', IP_FORMAT, container])} 2>/dev/null)"


def parse_addr(stdout: str) -> str:
    """The first address after MARK_ADDR ("" if none: e.g. a container on the host network)."""
    for line in stdout.splitlines():
        if line.startswith(MARK_ADDR):
            return next(iter(line[len(MARK_ADDR) :].split()), "")
    return ""


def parse_facts(stdout: str) -> Facts:
    """Read the output of facts_lines()/prepare_script(): JSON lines after the markers."""
    section = None
    facts = FactsBuilder()
    for line in stdout.splitlines():
        line = line.strip()
        if line in (MARK_CONTAINERS, MARK_IMAGES, MARK_SECRETS):
            section = line
            continue
        if section == MARK_SECRETS:
            parts = line.split(" ")
            if len(parts) == 3:
                facts.secret(*parts)
            continue
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if section == MARK_CONTAINERS:
            facts.container(data)
        elif section == MARK_IMAGES:
            facts.image(data)
    return facts.facts


class FactsBuilder:
    """Facts, one reported item at a time, in the order the host reported them: the facts
    script's lines (parse_facts) and the Engine API's answers (docker/api_facts.py) both
    come through here, so the two paths cannot differ in how they read the same data."""

    def __init__(self) -> None:
        self.facts = Facts([], {}, {}, {})

    def container(self, data: dict[str, Any]) -> None:
        """One INSPECT_FORMAT object."""
        self.facts.containers.append(_observed(data))

    def image(self, data: dict[str, Any]) -> None:
        """One IMAGE_FORMAT object: the spec's own images come first, so a tag two images
        claim is the first one's."""
        info = ImageInfo(id=data["id"], digests=tuple(data.get("digests") or ()))
        self.facts.by_id[info.id] = info
        for tag in (*(data.get("tags") or ()), *(data.get("digests") or ())):
            self.facts.images.setdefault(tag, info)

    def secret(self, name: str, key: str, digest: str) -> None:
        self.facts.secrets.setdefault(name, {})[key] = digest


def _recorded_spec(labels: dict[str, str]) -> dict[str, Any]:
    try:
        spec = json.loads(labels.get(LABEL_SPEC, "{}"))
    except ValueError:
        return {}
    return spec if isinstance(spec, dict) else {}


def _observed(d: dict[str, Any]) -> Observed:
    labels = d.get("labels") or {}
    return Observed(
        id=d["id"],
        name=d["name"].lstrip("/"),
        image=d.get("image") or "",
        image_id=d.get("image_id") or "",
        labels=labels,
        logical=labels.get(LABEL_NAME, ""),
        managed=labels.get(LABEL_MANAGED) == "true",
        spec_hash=labels.get(LABEL_SPEC_HASH) or "",
        spec=_recorded_spec(labels),
        status=d.get("status") or "",
        running=bool(d.get("running")),
        exit_code=int(d.get("exit_code") or 0),
        restarts=int(d.get("restarts") or 0),
        health=d.get("health"),
        created=d.get("created") or "",
        started_at=d.get("started_at") or "",
        ports=d.get("ports") or {},
        ip=first_ip(d.get("ip") or ""),
    )


def first_ip(text: str) -> str:
    """The first address of `IP_FORMAT`'s output (a container on several networks has several)."""
    return next(iter(text.split()), "")


def probe_target(spec: ContainerSpec, ports: dict[str, Any] | None, ip: str) -> tuple[str, int]:
    """Where the host reaches the health port: the container's own address and port.

    Never the published port when the address is known: docker-proxy accepts connections
    on it even when nothing in the container listens. Only a container without an address
    of its own (e.g. `--network host`) is probed through a published port, if any.
    """
    health = spec.health
    assert health.port is not None
    if ip:
        return (ip, health.port)
    for p in spec.ports:
        if p.container_port == health.port and p.protocol == "tcp" and p.host_port:
            return (
                p.host_ip if p.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1",
                p.host_port,
            )
    for binding in (ports or {}).get(f"{health.port}/tcp") or []:
        if isinstance(binding, dict) and binding.get("HostPort"):
            addr = binding.get("HostIp") or ""
            return (
                addr if addr not in ("", "0.0.0.0", "::") else "127.0.0.1",
                int(binding["HostPort"]),
            )
    return (ip, health.port)
