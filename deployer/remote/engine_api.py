"""A host's Docker Engine API through the run's own SSH connection, for the Docker SDK.

Each HTTP connection of the SDK is one SSH channel running `docker system dial-stdio` on
the host (what the SDK's own ssh:// transport does, and what `docker -H ssh://` does),
but on the connection deployer opened: host keys checked, jump hosts, the same user and
environment. Nothing is written on the host; the SDK never opens a connection of its own.
"""

from __future__ import annotations

from typing import Any

import docker
import paramiko
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnectionPool

from deployer.remote.ssh import Session

API_VERSION = "1.41"  # Docker Engine 20.10 (Debian 12's docker.io); newer engines take it


class _Client:
    """What the SDK's SSHConnectionPool asks of a paramiko client: its transport."""

    def __init__(self, transport: paramiko.Transport):
        self._transport = transport

    def get_transport(self) -> paramiko.Transport:
        return self._transport


class DialStdioAdapter(BaseHTTPAdapter):
    """requests adapter: every connection a `docker system dial-stdio` channel."""

    def __init__(self, transport: paramiko.Transport, timeout: float, max_pool_size: int = 4):
        super().__init__()
        self.pool = SSHConnectionPool(
            ssh_client=_Client(transport), timeout=timeout, maxsize=max_pool_size
        )

    def get_connection(self, url: Any, proxies: Any = None) -> SSHConnectionPool:
        return self.pool

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> SSHConnectionPool:
        return self.pool

    def close(self) -> None:
        super().close()
        self.pool.close()


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
