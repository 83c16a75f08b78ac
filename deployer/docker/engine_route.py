"""Which way deployer talks to a host's engine: the Engine API over a stream-local SSH
channel to its unix socket, or the `docker` CLI on the host (today's path). Pure.

The engine the CLI talks to is the login environment's DOCKER_HOST (else a docker context,
else /var/run/docker.sock). The prepare step's first command prints it with `probe_lines`;
`decide` picks the path, per host, with the reason when it is the CLI:

- `deployer_engine_api: off`, or a become (sudo) login: the CLI, decided before connecting;
- DOCKER_HOST not unix:// (tcp://, ssh://), or a docker context: the CLI;
- no socket there, or the login user may not use it: the CLI (which then says what is
  wrong in its own words, e.g. the login user not in the socket's group);
- otherwise the API, unless the server refuses the channel (`AllowStreamLocalForwarding
  no`): the caller falls back then, with the server's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deployer.docker import access, locking
from deployer.model import HostConn

MARK_ENGINE = "--deployer-engine--"
DEFAULT_HOST = "unix:///var/run/docker.sock"
EngineApi = Literal["auto", "off"]


def probe_lines() -> list[str]:
    """Shell, no docker process: print MARK_ENGINE, the socket's state (ok, missing,
    denied, or - when the address is not a unix socket), the docker context that chooses
    the engine (- when none) and the engine's address."""
    return [
        "h=${DOCKER_HOST:-}; c=-; a=-",
        'if [ -z "$h" ]; then',
        f"  h={DEFAULT_HOST}",
        '  case "${DOCKER_CONTEXT:-default}" in default) ;; *) c=$DOCKER_CONTEXT;; esac',
        '  [ "$c" != - ] || ! grep -qs \'"currentContext"\' '
        '"${DOCKER_CONFIG:-$HOME/.docker}/config.json" || c=config.json',
        "fi",
        'case "$h" in unix://*) s=${h#unix://}',
        '  if [ ! -S "$s" ]; then a=missing; elif [ -r "$s" ] && [ -w "$s" ]; then a=ok; '
        "else a=denied; fi;; esac",
        f'echo {MARK_ENGINE} "$a" "$c" "$h"',
    ]


@dataclass(frozen=True)
class EngineAddress:
    """What probe_lines printed."""

    address: str
    socket: str  # ok / missing / denied / - (not a unix socket)
    context: str  # - when none


def parse_probe(stdout: str) -> EngineAddress | None:
    for line in stdout.splitlines():
        if line.startswith(MARK_ENGINE):
            parts = line[len(MARK_ENGINE) :].split(None, 2)
            if len(parts) == 3:
                return EngineAddress(parts[2], parts[0], parts[1])
    return None


@dataclass(frozen=True)
class Route:
    """api: talk to `socket` over the Engine API; else the CLI, for `reason`."""

    api: bool
    socket: str = ""
    reason: str = ""

    @property
    def shown(self) -> str:
        """As the report shows it: `api`, or `cli (reason)`."""
        return "api" if self.api else f"cli ({self.reason})"


def before_connecting(conn: HostConn) -> Route | None:
    """The CLI when the inventory or the login decides it; None: ask the host."""
    if conn.engine_api == "off":
        return Route(False, reason="deployer_engine_api: off")
    if conn.become is not None:
        return Route(False, reason="become: the engine is reached through sudo")
    return None


def decide(probe: EngineAddress | None, user: str) -> Route:
    """The path for what the host printed (None: it printed nothing we know)."""
    if probe is None:
        return Route(False, reason="the engine's address was not reported")
    if probe.context != "-":
        return Route(False, reason=f"a docker context ({probe.context}) chooses the engine")
    if not probe.address.startswith("unix://"):
        if "://" in probe.address:  # its scheme only: the rest may name a user
            return Route(False, reason=f"DOCKER_HOST is {probe.address.split('://')[0]}://")
        return Route(False, reason="DOCKER_HOST is not a unix:// address")
    path = probe.address[len("unix://") :]
    if probe.socket == "missing":
        return Route(False, reason=f"no socket at {path}")
    if probe.socket != "ok":
        return Route(False, reason=f"{user} may not use {path}")
    return Route(True, socket=path)


def first_script(
    state_dir: str, lock_info: str | None, lock_prio: str = "", lock_wait: float = 0
) -> str:
    """The API path's first command: take the lock (as prepare_script does), then print
    the engine's address; no docker process. The play's proxy and network lines may follow."""
    lines = ["set -u"]
    if lock_info is not None:
        lines += access.state_dir_lines(state_dir)
        lines += locking.acquire_lines(state_dir, lock_info, lock_prio, lock_wait)
    return "\n".join([*lines, *probe_lines()]) + "\n"
