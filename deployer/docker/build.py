"""Build and push an image through a Docker Engine API client (the Docker SDK's), reading
the engine's JSON progress streams: what each step printed, which step failed, and the
digest the registry gave the pushed image.

The build context goes to the engine as the request body, packed by the SDK's own code
(`.dockerignore` honoured exactly as `docker build` honours it); the registry password
goes in the request's X-Registry-Auth header: never a command line, never a file on the
builder.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from docker.auth import AuthConfig, resolve_repository_name

from deployer.model import BuildSpec, RegistryAuth

OnLine = Callable[[str], None]
_STEP = re.compile(r"^Step \d+/\d+ : ")
DOCKER_HUB = "docker.io"


class BuildFailed(Exception):
    """A build or a push the engine refused: the step and what it printed."""


@dataclass(frozen=True)
class Pushed:
    image_id: str
    digest: str  # sha256:...


def registry_of(image: str) -> str:
    """The registry an image name pushes to (`docker.io` for Docker Hub names)."""
    registry, _ = resolve_repository_name(split_tag(image)[0])
    return DOCKER_HUB if registry in ("index.docker.io", "docker.io") else registry


def split_tag(image: str) -> tuple[str, str | None]:
    """`repo[:tag]` -> (repo, tag or None); a port in the registry is not a tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag
    return name, None


def auth_for(image: str, registry: RegistryAuth | None) -> dict[str, str] | None:
    """The play's registry login, when it is the registry the image goes to."""
    if registry is None or registry.username is None or registry.password is None:
        return None
    server = registry.server or DOCKER_HUB
    server = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    if server in ("index.docker.io", "registry-1.docker.io"):
        server = DOCKER_HUB
    if server != registry_of(image):
        return None
    auth = {"username": registry.username, "password": registry.password.reveal()}
    if server != DOCKER_HUB:
        auth["serveraddress"] = server
    return auth


def build(
    api: Any, spec: BuildSpec, tag: str, on_line: OnLine, auth: dict[str, str] | None = None
) -> str:
    """Build `spec` as `tag` on the engine behind `api`; the image id. BuildFailed names the
    step that failed and carries its output.

    auth: the only login the build may use to pull its FROM images (the play's, for its
    registry). The SDK would otherwise send the builder every credential of this machine's
    Docker config (X-Registry-Config)."""
    saved = getattr(api, "_auth_configs", None)
    api._auth_configs = AuthConfig({"auths": {_auth_key(auth): auth} if auth else {}})
    try:
        stream = api.build(
            path=spec.context,
            dockerfile=spec.dockerfile,
            tag=tag,
            buildargs=dict(spec.args) or None,
            target=spec.target,
            rm=True,
            forcerm=True,
            decode=True,
        )
        return read_build(stream, on_line)
    finally:
        api._auth_configs = saved


def _auth_key(auth: dict[str, str]) -> str:
    return auth.get("serveraddress") or "https://index.docker.io/v1/"


def read_build(events: Iterable[dict[str, Any]], on_line: OnLine) -> str:
    step, image_id = "", ""
    tail: deque[str] = deque(maxlen=20)  # a noisy step keeps its last lines, not all
    for event in events:
        if "error" in event:
            detail = str(event.get("error") or "").strip()
            out = "\n".join(tail)
            raise BuildFailed((f"{step}: " if step else "") + detail + (f"\n{out}" if out else ""))
        text = str(event.get("stream") or "")
        for line in text.splitlines():
            if _STEP.match(line):
                step = line
                tail.clear()
            elif line.strip():
                tail.append(line)
            on_line(line)
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
    if not image_id:
        raise BuildFailed("the engine reported no image id")
    return image_id


def push(api: Any, image: str, auth: dict[str, str] | None, on_line: OnLine) -> str:
    """Push `image` (repo:tag); the digest the registry answered."""
    repo, tag = split_tag(image)
    stream = api.push(repo, tag=tag, auth_config=auth, stream=True, decode=True)
    return read_push(stream, on_line)


def read_push(events: Iterable[dict[str, Any]], on_line: OnLine) -> str:
    digest = ""
    for event in events:
        if "error" in event:
            raise BuildFailed(f"push: {str(event.get('error') or '').strip()}")
        status = str(event.get("status") or "")
        if status and not event.get("progressDetail"):
            on_line(f"{event.get('id', '')}: {status}".lstrip(": "))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
    if not digest.startswith("sha256:"):
        raise BuildFailed("push: the registry answered no digest")
    return digest
