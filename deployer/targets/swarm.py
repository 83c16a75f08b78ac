"""The Swarm target: one manager's Engine API over the run's SSH connection.

The play's hosts name the managers; the first one that answers as a manager is used
(host keys as for every host: remote/ssh.py). Everything goes through the Docker SDK's
low-level client over `docker system dial-stdio` (remote/engine_api.py): no command line
is built here, so no playbook value meets a shell, and secret values travel only in the
body of the API request that creates a secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as pysecrets
from typing import Any

import docker.errors

from deployer.docker import swarm_state
from deployer.docker.swarm_spec import ImageConfig, SecretRef
from deployer.errors import RemoteError, Unreachable
from deployer.model import HostConn, RegistryAuth, Secret
from deployer.remote.engine_api import api_client
from deployer.remote.ssh import Session

LABEL_SERVICE = "deployer.service"
LABEL_KEY = "deployer.env"
LABEL_SALT = "deployer.salt"
LABEL_CHECK = "deployer.check"
_ROUNDS = 100_000


def secret_check(value: str, salt: str) -> str:
    """What a secret's label records of its value: a slow salted hash (PBKDF2), so that a
    changed value is seen without keeping it anywhere but in the secret itself. Whoever
    can read the label on a manager can run a task that reads the secret anyway."""
    return hashlib.pbkdf2_hmac("sha256", value.encode(), salt.encode(), _ROUNDS).hex()[:32]


class SwarmManager:
    """A connection to one manager of a swarm."""

    def __init__(self, conns: tuple[HostConn, ...], accept_new_host_keys: bool = False):
        self.conns = conns
        self.accept_new = accept_new_host_keys
        self.session: Session | None = None
        self.api: Any = None
        self.host = ""
        self.names: dict[str, str] = {c.address: c.name for c in conns}

    def connect(self) -> str:
        """The first play host that answers as a swarm manager; its name."""
        problems = []
        for conn in self.conns:
            session = Session(conn, accept_new_host_keys=self.accept_new)
            try:
                api = api_client(session, timeout=60)
                info = api.info().get("Swarm") or {}
            except (RemoteError, docker.errors.DockerException, OSError) as err:
                session.close()
                problems.append(f"{conn.name}: {err}")
                continue
            if not info.get("ControlAvailable"):
                session.close()
                state = info.get("LocalNodeState") or "inactive"
                problems.append(f"{conn.name}: not a swarm manager (swarm: {state})")
                continue
            self.session, self.api, self.host = session, api, conn.name
            return conn.name
        raise Unreachable("no swarm manager reachable: " + "; ".join(problems))

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
        if self.session is not None:
            self.session.close()

    def add_names(self, conns: list[HostConn]) -> None:
        """Inventory names for nodes, by address (a node's hostname need not be unique)."""
        self.names.update({c.address: c.name for c in conns})

    # -- reading -----------------------------------------------------------------------------
    def nodes(self) -> list[swarm_state.Node]:
        return swarm_state.nodes(self.api.nodes(), self.names)

    def service(self, name: str) -> dict[str, Any] | None:
        found = [s for s in self.api.services(filters={"name": name}) if s["Spec"]["Name"] == name]
        return found[0] if found else None

    def services(self) -> list[dict[str, Any]]:
        return list(self.api.services())

    def standing(self, name: str) -> swarm_state.Standing:
        service = self.service(name)
        if service is None:
            raise RemoteError(f"service {name} is gone")
        nodes = self.nodes()
        names = {n.id: n.name for n in nodes}
        tasks = swarm_state.task_views(self.api.tasks(filters={"service": service["ID"]}), names)
        active = sum(1 for n in nodes if n.state == "ready" and n.availability == "active")
        return swarm_state.standing(service, tasks, active, tuple(nodes))

    def image_config(self, image: str, auth: RegistryAuth | None) -> ImageConfig:
        """The image's entrypoint and command, pulled on the manager when missing."""
        try:
            info = self.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            try:
                self.api.pull(image, auth_config=_auth_config(auth))
                info = self.api.inspect_image(image)
            except docker.errors.DockerException as err:
                raise RemoteError(f"{self.host}: cannot pull {image}: {err}") from err
        cfg = info.get("Config") or {}
        return ImageConfig(tuple(cfg.get("Entrypoint") or ()), tuple(cfg.get("Cmd") or ()))

    # -- secrets -----------------------------------------------------------------------------
    def secrets_for(
        self, service: str, env: tuple[tuple[str, Secret], ...], create: bool
    ) -> tuple[SecretRef, ...]:
        """A Swarm secret per secret_env key, reused while its value is the same; a new one
        (new name) when it changed. `create` False (--check): the new one is only named."""
        existing = self.api.secrets(filters={"label": f"{LABEL_SERVICE}={service}"})
        out = []
        for key, secret in env:
            value = secret.reveal()
            same = [
                s
                for s in existing
                if (labels := s["Spec"].get("Labels") or {}).get(LABEL_KEY) == key
                and labels.get(LABEL_CHECK) == secret_check(value, labels.get(LABEL_SALT, ""))
            ]
            if same:
                out.append(SecretRef(key, same[0]["Spec"]["Name"], same[0]["ID"]))
                continue
            name = f"{service}_{key}_{pysecrets.token_hex(4)}"
            if not create:
                out.append(SecretRef(key, f"{service}_{key}_(new)"))
                continue
            salt = pysecrets.token_hex(8)
            made = self.api.create_secret(
                name,
                value.encode(),
                labels={
                    LABEL_SERVICE: service,
                    LABEL_KEY: key,
                    LABEL_SALT: salt,
                    LABEL_CHECK: secret_check(value, salt),
                },
            )
            out.append(SecretRef(key, name, made["ID"]))
        return tuple(out)

    def prune_secrets(self, service: str) -> None:
        """Remove this service's secrets that neither its spec nor its previous spec uses."""
        svc = self.service(service)
        if svc is None:
            return
        used = {
            ref.get("SecretID")
            for spec in (svc.get("Spec") or {}, svc.get("PreviousSpec") or {})
            for ref in ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Secrets")
            or []
        }
        for s in self.api.secrets(filters={"label": f"{LABEL_SERVICE}={service}"}):
            if s["ID"] not in used:
                try:
                    self.api.remove_secret(s["ID"])
                except docker.errors.APIError:
                    pass  # still in use by a task on its way out: the next deploy removes it

    # -- changing ----------------------------------------------------------------------------
    def create(self, spec: dict[str, Any], auth: RegistryAuth | None) -> None:
        self._post("/services/create", spec, {}, auth)

    def update(
        self, current: dict[str, Any], spec: dict[str, Any], auth: RegistryAuth | None
    ) -> None:
        params = {"version": current["Version"]["Index"]}
        self._post(f"/services/{current['ID']}/update", spec, params, auth)

    def rollback(self, current: dict[str, Any]) -> None:
        """Swarm's own rollback to the service's previous spec."""
        if not current.get("PreviousSpec"):
            raise RemoteError(
                f"service {current['Spec']['Name']}: no previous spec to roll back to"
            )
        params = {"version": current["Version"]["Index"], "rollback": "previous"}
        self._post(f"/services/{current['ID']}/update", current["Spec"], params, None)

    def _post(
        self, path: str, body: dict[str, Any], params: dict[str, Any], auth: RegistryAuth | None
    ) -> None:
        headers = {}
        cfg = _auth_config(auth)
        if cfg:
            headers["X-Registry-Auth"] = base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()
        api = self.api
        try:
            res = api._post_json(api._url(path), data=body, params=params, headers=headers)  # noqa: SLF001
            api._raise_for_status(res)  # noqa: SLF001
        except docker.errors.APIError as err:
            raise RemoteError(f"{self.host}: {path}: {err.explanation or err}") from err


def _auth_config(auth: RegistryAuth | None) -> dict[str, str] | None:
    if auth is None or auth.username is None or auth.password is None:
        return None
    return {
        "username": auth.username,
        "password": auth.password.reveal(),
        "serveraddress": auth.server or "https://index.docker.io/v1/",
    }
