"""A host's Docker Engine API through the run's own SSH connection, for the Docker SDK.

Two ways, both on the connection deployer opened (host keys checked, jump hosts, the same
user); nothing is written on the host; the SDK never opens a connection of its own:

- `api_client` (`deployer build`): each HTTP connection one SSH channel running `docker
  system dial-stdio` on the host (what the SDK's ssh:// transport does): a process per
  connection, but the login's environment and CLI configuration choose the engine.
- `socket_client` (the prepare step): each HTTP connection a stream-local channel to the
  engine's unix socket (remote/streamlocal.py): no process on the host at all. Kept alive
  and reused: a host's requests ride one channel (two at most). The channels are counted
  in `channels`, apart from the session's commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import paramiko
import requests
import urllib3
import urllib3.connection
from docker.auth import AuthConfig
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnectionPool

from deployer.errors import RemoteError
from deployer.remote.ssh import Session
from deployer.remote.streamlocal import open_streamlocal

# what paramiko raises when the connection itself breaks under a request (a send on a dead
# socket, a key exchange that timed out): neither urllib3 nor requests wraps these
CONNECTION_LOST: tuple[type[Exception], ...] = (EOFError, paramiko.SSHException)
# a request that failed, the connection under it still up: an error answer, the SDK's own
# refusals, the transport's or the channel's errors, an answer that is not JSON
REQUEST_FAILED: tuple[type[Exception], ...] = (
    docker.errors.DockerException,
    requests.RequestException,
    RemoteError,
    OSError,
    ValueError,
)
API_VERSION = "1.41"  # Docker Engine 20.10 (Debian 12's docker.io); newer engines take it


class _Client:
    """What the SDK's SSHConnectionPool asks of a paramiko client: its transport."""

    def __init__(self, transport: paramiko.Transport):
        self._transport = transport

    def get_transport(self) -> paramiko.Transport:
        return self._transport


class _OnePool(BaseHTTPAdapter):
    """requests adapter whose every request goes to its one pool (set by the subclass)."""

    pool: Any

    def get_connection(self, url: Any, proxies: Any = None) -> Any:
        return self.pool

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        return self.pool

    def close(self) -> None:
        super().close()
        self.pool.close()


class DialStdioAdapter(_OnePool):
    """requests adapter: every connection a `docker system dial-stdio` channel."""

    def __init__(self, transport: paramiko.Transport, timeout: float, max_pool_size: int = 4):
        super().__init__()
        self.pool = SSHConnectionPool(
            ssh_client=_Client(transport), timeout=timeout, maxsize=max_pool_size
        )


def api_client(session: Session, timeout: float = 600.0) -> docker.APIClient:
    """The Docker SDK's low-level client for the session's host."""
    session.open()
    api = docker.APIClient(base_url="tcp://127.0.0.1:9", version=API_VERSION, timeout=timeout)
    adapter = DialStdioAdapter(session.transport, timeout)
    api.mount("http+docker://ssh", adapter)
    api._custom_adapter = adapter  # noqa: SLF001 - the SDK closes it with the client
    api.base_url = "http+docker://ssh"
    return api


def local_client(timeout: float = 600.0) -> docker.APIClient:
    """The controller's own engine (DOCKER_HOST, else /var/run/docker.sock)."""
    return docker.APIClient(version=API_VERSION, timeout=timeout, **docker.utils.kwargs_from_env())


# -- stream-local: the engine's socket ------------------------------------------------------
class _ChannelConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is an SSH channel from `opener`."""

    def __init__(self, opener: Callable[[], paramiko.Channel], timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._opener = opener
        self._timeout = timeout

    def connect(self) -> None:
        chan = self._opener()
        chan.settimeout(self._timeout)
        self.sock = chan

    @property
    def is_connected(self) -> bool:
        """Still usable for the next request: asked without select() on the channel (which
        would give every channel a pipe of file descriptors)."""
        chan = self.sock
        return isinstance(chan, paramiko.Channel) and not chan.closed and not chan.eof_received


class _ChannelPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, opener: Callable[[], paramiko.Channel], timeout: float, maxsize: int):
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self._opener = opener
        self._channel_timeout = timeout

    def _new_conn(self) -> _ChannelConnection:
        self.num_connections += 1
        return _ChannelConnection(self._opener, self._channel_timeout)


class StreamLocalAdapter(_OnePool):
    """requests adapter: every connection a stream-local channel to the engine's socket;
    `channels` counts the channels opened."""

    def __init__(self, session: Session, path: str, timeout: float, open_timeout: float):
        super().__init__()
        self.channels = 0
        self.opened: list[paramiko.Channel] = []

        def opener() -> paramiko.Channel:
            chan = open_streamlocal(
                session.transport, path, host=session.conn.name, timeout=open_timeout
            )
            self.channels += 1
            self.opened = [c for c in self.opened if not c.closed] + [chan]
            return chan

        self.pool = _ChannelPool(opener, timeout, maxsize=2)

    def close(self) -> None:
        """Close the pool and every channel it opened, one still in use too (a stream of
        events being read: its reader sees the end)."""
        try:
            super().close()
        finally:
            for chan in self.opened:
                try:
                    chan.close()
                except Exception:  # noqa: BLE001, S110 - a broken transport: nothing to close
                    pass


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        return (0,)


def choose_version(server_max: str, server_min: str) -> str:
    """The API version to speak to an engine that takes [server_min, server_max]: ours
    (API_VERSION) when it can; an older engine's own newest; a newer engine's oldest
    (Docker 29 refuses anything below 1.44)."""
    if _version(server_max) < _version(API_VERSION):
        return server_max
    if _version(server_min) > _version(API_VERSION):
        return server_min
    return API_VERSION


def negotiate(api: docker.APIClient, agreed: str | None = None) -> str:
    """Ask the engine which API versions it takes (GET /version, unversioned: every engine
    answers it) and speak one of them: one request, the first on the channel. `agreed`:
    the version an earlier client agreed with the same engine, spoken without asking."""
    if agreed is None:
        res = api.get(f"{api.base_url}/version", timeout=api.timeout)
        api._raise_for_status(res)  # noqa: SLF001
        got = res.json()
        agreed = choose_version(
            str(got.get("ApiVersion") or API_VERSION), str(got.get("MinAPIVersion") or "1.12")
        )
    api._version = agreed  # noqa: SLF001 - the SDK's own field for it
    return agreed


def socket_client(
    session: Session, path: str, timeout: float = 600.0
) -> tuple[docker.APIClient, StreamLocalAdapter]:
    """The Docker SDK's low-level client for the engine at the unix socket `path` on the
    session's host, and its adapter (for its channel count).

    The client carries no credentials of the controller's own (~/.docker/config.json):
    a pull sends only the X-Registry-Auth its caller gives, and no proxy settings of the
    controller's environment apply.
    """
    session.open()
    api = docker.APIClient(base_url="tcp://127.0.0.1:9", version=API_VERSION, timeout=timeout)
    api._auth_configs = AuthConfig({})  # noqa: SLF001 - see above
    api.trust_env = False
    adapter = StreamLocalAdapter(session, path, timeout, session.connect_timeout)
    api.mount("http+docker://engine", adapter)
    api._custom_adapter = adapter  # noqa: SLF001 - the SDK closes it with the client
    api.base_url = "http+docker://engine"
    return api, adapter
