"""The Engine API's answers read as the facts script's lines are: the same `Facts` from the
same host, whichever path read it (targets/api_prepare.py asks, this reads). Pure.

- a container's inspect (GET /containers/{id}/json) -> what INSPECT_FORMAT prints;
- an image's inspect (GET /images/{name}/json) -> what IMAGE_FORMAT prints;
- a live container's Config.Env -> what `secret_digest_lines` prints, hashed here on the
  controller (in memory, never logged: only the salted digests leave this module);
- which registry credentials an image's pull may carry (the CLI's rule), and the error a
  pull's progress stream ended with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from deployer.docker.facts import FactsBuilder
from deployer.model import ContainerSpec, Facts, RegistryAuth, secret_digest

INDEX_NAME = "docker.io"  # Docker Hub, as the SDK and the CLI name its registry
HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")


def inspect_fields(d: dict[str, Any]) -> dict[str, Any]:
    """What INSPECT_FORMAT prints for this inspect. Go templates range over a map in key
    order, so the addresses come in the order of the networks' names."""
    config = d.get("Config") or {}
    state = d.get("State") or {}
    health = state.get("Health")
    nets = (d.get("NetworkSettings") or {}).get("Networks") or {}
    return {
        "id": d["Id"],
        "name": d["Name"],
        "created": d.get("Created"),
        "image_id": d.get("Image"),
        "image": config.get("Image"),
        "labels": config.get("Labels"),
        "status": state.get("Status"),
        "running": state.get("Running"),
        "exit_code": state.get("ExitCode"),
        "started_at": state.get("StartedAt"),
        "finished_at": state.get("FinishedAt"),
        "health": health.get("Status") if health else None,
        "restarts": d.get("RestartCount"),
        "ports": (d.get("NetworkSettings") or {}).get("Ports"),
        "ip": "".join(f"{(nets[k] or {}).get('IPAddress') or ''} " for k in sorted(nets)),
    }


def image_fields(d: dict[str, Any]) -> dict[str, Any]:
    """What IMAGE_FORMAT prints for this image inspect."""
    return {"id": d["Id"], "tags": d.get("RepoTags"), "digests": d.get("RepoDigests")}


def secret_digests(
    spec: ContainerSpec, env: Sequence[str] | None, nonce: str
) -> list[tuple[str, str]]:
    """(key, digest) for each of the spec's secrets the container's environment holds, as
    `secret_digest_lines` prints them: the environment read line by line (a value with a
    newline is cut there, as `read -r` cuts it), the key up to the first `=`."""
    keys = {k for k, _ in spec.secret_env}
    lines = "".join(f"{e}\n" for e in env or ()).split("\n")[:-1]
    out = []
    for line in lines:
        key, eq, value = line.partition("=")
        if eq and key in keys:
            out.append((key, secret_digest(nonce, value)))
    return out


def build_facts(
    containers: Iterable[dict[str, Any]],
    images: Iterable[dict[str, Any]],
    secrets: Iterable[tuple[str, str, str]],
) -> Facts:
    """Facts from inspects in the facts script's order: the managed containers as listed,
    the spec's images (by name, in order), then the containers' images (by id, sorted)."""
    b = FactsBuilder()
    for c in containers:
        b.container(inspect_fields(c))
    for i in images:
        b.image(image_fields(i))
    for name, key, digest in secrets:
        b.secret(name, key, digest)
    return b.facts


def registry_host(server: str | None) -> str:
    """The registry a `docker login SERVER` stores its credentials for, as the CLI names
    it (scheme and path dropped; Docker Hub's names are one)."""
    if not server:
        return INDEX_NAME
    host = server.split("://", 1)[-1].split("/", 1)[0].lower()
    return INDEX_NAME if host in HUB_NAMES else host


def image_registry(image: str) -> str:
    """The registry an image reference pulls from (the SDK's resolve_repository_name, kept
    here so that this module does not import the SDK): its first part when that names a
    host (a dot, a port, localhost), else Docker Hub."""
    first, slash, _ = image.split("@", 1)[0].partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return registry_host(first)
    return INDEX_NAME


def auth_for(image: str, registry: RegistryAuth | None) -> dict[str, str] | None:
    """The X-Registry-Auth of an image's pull: the play's credentials only for an image on
    the registry they log in to (what the CLI does after `docker login`), never for
    another registry's image."""
    if registry is None or not registry.username or registry.password is None:
        return None
    index = image_registry(image)
    if registry_host(index) != registry_host(registry.server):
        return None
    return {
        "username": registry.username,
        "password": registry.password.reveal(),
        "serveraddress": registry.server or INDEX_NAME,
    }


def pull_error(stream: str) -> str | None:
    """The error a pull's progress stream (JSON lines) ended with, if any."""
    for line in stream.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("error"):
            return str(item["error"])
    return None
