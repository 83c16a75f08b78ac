"""`deployer swarm init`: make a swarm of inventory hosts, idempotently.

The first manager inits the swarm when it is in none; every other host joins when it is in
none (a host already in a swarm is left as it is, and said so). Join tokens travel only
in API request bodies over the hosts' SSH connections.
"""

from __future__ import annotations

from typing import Any

import docker.errors

from deployer.errors import RemoteError
from deployer.model import HostConn
from deployer.remote.engine_api import api_client
from deployer.remote.ssh import Session

SWARM_PORT = 2377


def advertise(conn: HostConn) -> str:
    """The address the other nodes reach this one at: `deployer_swarm_addr`, else its
    inventory address."""
    return str(conn.vars.get("deployer_swarm_addr") or conn.address)


def _state(api: Any) -> tuple[str, bool]:
    info = api.info().get("Swarm") or {}
    return str(info.get("LocalNodeState") or "inactive"), bool(info.get("ControlAvailable"))


def init(
    managers: list[HostConn], workers: list[HostConn], accept_new: bool = False
) -> list[tuple[str, str]]:
    """(host, what happened) per host, managers first."""
    if not managers:
        raise RemoteError("--managers matches no host")
    out: list[tuple[str, str]] = []
    first = managers[0]
    session = Session(first, accept_new_host_keys=accept_new)
    try:
        api = api_client(session, timeout=60)
        state, control = _state(api)
        if state == "inactive":
            addr = advertise(first)
            api.init_swarm(advertise_addr=addr, listen_addr=f"{addr}:{SWARM_PORT}")
            out.append((first.name, "manager: swarm initialized"))
        elif control:
            out.append((first.name, "manager: already a manager"))
        else:
            raise RemoteError(f"{first.name}: in a swarm ({state}) but not a manager")
        tokens = api.inspect_swarm()["JoinTokens"]
        remote = f"{advertise(first)}:{SWARM_PORT}"
    finally:
        session.close()
    for role, hosts in (("manager", managers[1:]), ("worker", workers)):
        for conn in hosts:
            if conn.name in {n for n, _ in out}:
                continue
            out.append((conn.name, _join(conn, role, tokens[role.title()], remote, accept_new)))
    return out


def _join(conn: HostConn, role: str, token: str, remote: str, accept_new: bool) -> str:
    session = Session(conn, accept_new_host_keys=accept_new)
    try:
        api = api_client(session, timeout=60)
        state, control = _state(api)
        if state != "inactive":
            what = "a manager" if control else "a node"
            return f"{role}: already {what} of a swarm ({state}); left as it is"
        addr = advertise(conn)
        api.join_swarm([remote], token, listen_addr=f"{addr}:{SWARM_PORT}", advertise_addr=addr)
        return f"{role}: joined"
    except docker.errors.APIError as err:
        return f"{role}: FAILED to join: {err.explanation or err}"
    except RemoteError as err:
        return f"{role}: FAILED: {err}"
    finally:
        session.close()
