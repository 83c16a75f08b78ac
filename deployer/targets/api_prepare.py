"""The prepare step's docker work over the Engine API (after the first command took the
lock): registry login and pulls, the managed containers, their images, the salted secret
digests. The same `Facts`, statuses and messages as the CLI's prepare script
(docker/commands.py `prepare_script`), with no process started on the host.

Requests, in a no-op: the managed containers' list, one inspect per container, one per
image (by name, and by id for what the containers run that the names did not cover).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import docker
import docker.errors
import requests

from deployer.docker import api_facts
from deployer.docker.labels import LABEL_MANAGED
from deployer.docker.options import pull_policies
from deployer.errors import RemoteError
from deployer.model import ContainerSpec, PullPolicy, RegistryAuth
from deployer.remote.engine_api import CONNECTION_LOST, negotiate
from deployer.remote.streamlocal import StreamLocalRefused
from deployer.targets import Prepared

# the request or the connection under it failed: the host's error, in words
_BROKEN: tuple[type[Exception], ...] = (
    requests.RequestException,
    RemoteError,
    OSError,
    *CONNECTION_LOST,
)


class _Failed(Exception):
    """A step failed with a status the CLI's script exits with (login, pull)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def _daemon(err: docker.errors.APIError) -> str:
    """What the CLI prints for an error answer."""
    return f"Error response from daemon: {err.explanation or err}"


class ApiPrepare:
    """One host's prepare over an APIClient (remote/engine_api.py `socket_client`)."""

    def __init__(self, api: docker.APIClient):
        self.api = api
        self.version: str | None = None  # the API version agreed with the engine, once asked
        # image id -> its inspect, read since the last pull (reused for the containers' images)
        self.inspected: dict[str, dict[str, Any]] = {}
        # reference -> its inspect (None: not on the host), read since the last pull: the
        # pull policy's look and the facts' ask the same question (one request, not two)
        self.by_ref: dict[str, dict[str, Any] | None] = {}

    def run(
        self,
        images: Sequence[str],
        registry: RegistryAuth | None,
        *,
        pull: bool,
        specs: Sequence[ContainerSpec],
        nonce: str,
        pull_missing: Sequence[str] = (),
    ) -> Prepared:
        """Prepared; StreamLocalRefused propagates (the caller falls back to the CLI: no
        request reached the engine when the first channel is refused)."""
        try:
            self.version = negotiate(self.api)
            self._pulls(images, registry, pull, specs, pull_missing)
            facts = self._facts(images, specs, nonce)
        except _Failed as failed:
            return Prepared(failed.status, message=str(failed))  # type: ignore[arg-type]
        except StreamLocalRefused:
            raise
        except docker.errors.APIError as err:
            return Prepared("error", message=_daemon(err)[-400:])
        except docker.errors.DockerException as err:  # the SDK's own refusals (a bad name)
            return Prepared("error", message=f"the Docker SDK refused: {err}"[-400:])
        except _BROKEN as err:
            return Prepared("error", message=f"the Engine API over SSH failed: {err}"[-400:])
        return Prepared("ok", facts)

    # -- login and pulls (prepare_script's order) ------------------------------------------
    def _pulls(
        self,
        images: Sequence[str],
        registry: RegistryAuth | None,
        pull: bool,
        specs: Sequence[ContainerSpec],
        pull_missing: Sequence[str],
    ) -> None:
        policies = pull_policies(images, specs)
        if pull and (pull_missing or any(p != "never" for p in policies.values())):
            self._login(registry)
        for image, policy in policies.items():
            self._by_policy(image, policy, pull, registry)
        for image in dict.fromkeys(pull_missing):
            if self._image(image) is None:
                self._pull(image, registry)

    def _login(self, registry: RegistryAuth | None) -> None:
        """POST /auth, as `docker login` does: wrong credentials fail here, as `login`."""
        if registry is None or not registry.username or registry.password is None:
            return
        body = {
            "username": registry.username,
            "password": registry.password.reveal(),
            "serveraddress": registry.server or "",
        }
        try:
            res = self.api.post(self.api._url("/auth"), json=body)  # noqa: SLF001
            self.api._raise_for_status(res)  # noqa: SLF001
        except docker.errors.APIError as err:
            raise _Failed("login", _daemon(err)[-400:]) from None

    def _by_policy(
        self, image: str, policy: PullPolicy, pull: bool, registry: RegistryAuth | None
    ) -> None:
        if policy == "never":
            if self._image(image) is None:
                why = f"{image}: not on this host, and pull: never forbids pulling it"
                raise _Failed("pull", why)
            return
        if not pull:
            return
        if policy == "always" or self._image(image) is None:
            self._pull(image, registry)

    def _pull(self, image: str, registry: RegistryAuth | None) -> None:
        """POST /images/create, the credentials in X-Registry-Auth for their registry only."""
        auth = api_facts.auth_for(image, registry)
        self.inspected.clear()  # a pull may move a tag: what was read before is stale
        self.by_ref.clear()
        try:
            stream = self.api.pull(image, auth_config=auth)
        except docker.errors.APIError as err:
            raise _Failed("pull", " ".join(f"{image} {_daemon(err)}".split())[-400:]) from None
        failed = api_facts.pull_error(stream if isinstance(stream, str) else "")
        if failed is not None:
            raise _Failed("pull", " ".join(f"{image} {failed}".split())[-400:])

    # -- facts (facts_lines, the images section, secret_digest_lines) -----------------------
    def _image(self, ref: str) -> dict[str, Any] | None:
        """The image's inspect, None when the host has none by that reference (the CLI's
        `docker image inspect ... 2>/dev/null || true`: any refusal is "none"), asked once
        per reference until a pull."""
        if ref in self.by_ref:
            return self.by_ref[ref]
        data: dict[str, Any] | None
        try:
            data = self.api.inspect_image(ref)
        except docker.errors.APIError:
            data = None
        else:
            self.inspected[data["Id"]] = data
        self.by_ref[ref] = data
        return data

    def _facts(
        self, images: Sequence[str], specs: Sequence[ContainerSpec], nonce: str
    ) -> api_facts.Facts:
        listed = self.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})
        containers = []
        for c in listed:
            try:
                containers.append(self.api.inspect_container(c["Id"]))
            except docker.errors.NotFound:
                continue  # gone since the list (the CLI's inspect skips it too)
        found = [i for i in (self._image(ref) for ref in dict.fromkeys(images)) if i]
        for image_id in sorted({c.get("Image") or "" for c in containers} - {""}):
            known = self.inspected.get(image_id) or self._image(image_id)
            if known is not None:
                found.append(known)
        return api_facts.build_facts(containers, found, self._secrets(specs, containers, nonce))

    def _secrets(
        self, specs: Sequence[ContainerSpec], containers: list[dict[str, Any]], nonce: str
    ) -> list[tuple[str, str, str]]:
        """(name, key, digest) of each live container's secrets, by name as the CLI finds
        them (a managed container of that name is already inspected)."""
        out = []
        for spec in specs:
            if not spec.secret_env:
                continue
            data = next((c for c in containers if c.get("Name") == f"/{spec.name}"), None)
            if data is None:
                try:
                    data = self.api.inspect_container(spec.name)
                except docker.errors.APIError:
                    continue
            env = (data.get("Config") or {}).get("Env")
            out += [(spec.name, k, d) for k, d in api_facts.secret_digests(spec, env, nonce)]
        return out
