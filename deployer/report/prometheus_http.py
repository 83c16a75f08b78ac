"""`/metrics` for `deployer health --watch S --serve ADDR:PORT`: the latest round's metrics.

A small WSGI application on a daemon thread (wsgiref, one thread per request): `/metrics`
is prometheus_client's own exposition app (text format, OpenMetrics when asked, gzip),
`/` a pointer to it, anything else 404. It serves whatever report `update` last gave,
rendered at scrape time; nothing before the first round ends.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import TCPServer, ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from deployer.errors import ConfigError, EnvironmentProblem
from deployer.health.model import HealthReport
from deployer.report.prometheus import ReportCollector

DEFAULT_ADDRESS = "127.0.0.1"
StartResponse = Callable[..., Any]


def parse_listen(text: str) -> tuple[str, int]:
    """Read "ADDR:PORT", "[IPv6]:PORT", ":PORT" or "PORT" (the last two on 127.0.0.1)."""
    addr, colon, port = text.strip().rpartition(":")
    if not colon:
        addr = ""
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--serve {text}: wants ADDR:PORT (e.g. 127.0.0.1:9105), port 1-65535")
    return addr or DEFAULT_ADDRESS, int(port)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no access log on the terminal
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """As WSGIServer's, without HTTPServer's reverse DNS lookup of the address (slow
        where no resolver answers)."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


def _join(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _server_class(family: socket.AddressFamily) -> type[WSGIServer]:
    class Server(_ThreadingServer):
        address_family = family

    return Server


class MetricsServer:
    """Listens on ADDR:PORT at once (EnvironmentProblem when it cannot: a port in use, an
    address not on this machine), serves until `close`."""

    def __init__(self, address: str, port: int) -> None:
        self._report: HealthReport | None = None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ReportCollector(lambda: self._report))
        self._metrics = make_wsgi_app(registry)
        where = _join(address, port)
        try:
            family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
            server = _server_class(family)
            self._httpd = make_server(address, port, self._app, server, handler_class=_Quiet)
        except OSError as err:
            raise EnvironmentProblem(
                f"--serve {where}: cannot listen: {err.strerror or err}"
            ) from None
        self.port: int = self._httpd.server_port
        self.url = f"http://{_join(address, self.port)}/metrics"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="deployer-metrics", daemon=True
        )
        self._thread.start()

    def update(self, report: HealthReport) -> None:
        self._report = report

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            return self._metrics(environ, start_response)
        status = "200 OK" if path == "/" else "404 Not Found"
        body = b"deployer health: metrics at /metrics\n"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [body]
