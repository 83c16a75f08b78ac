"""The SSH connection's socket sends at once (TCP_NODELAY): without it, an SSH packet sent
while the previous one is unacknowledged (an HTTP request's body after its headers over the
Engine API, a probe's GET) waited for the host's delayed ACK, 40 ms on Linux, and a health
report's facts took 130-170 ms a host instead of 45-60 on the lab. And a command's channel
opening is timed: the round trip the health report shows as the SSH latency."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import paramiko

from deployer.remote import ssh
from tests.unit.remote.test_connect_pacing import Front, OpenServer, conn_to


class _Exec(OpenServer):
    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        return True


def test_the_connection_sends_at_once_and_times_its_channel_openings(tmp_path: Path) -> None:
    key = paramiko.RSAKey.generate(2048)
    done = threading.Event()

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_Exec())
        held = []  # a channel object dropped is closed
        while not done.is_set():
            chan = t.accept(0.2)
            if chan is not None:
                held.append(chan)
        t.close()

    f = Front(serve)
    session = ssh.Session(conn_to(f.port, tmp_path, key), connect_timeout=5)
    try:
        session.open()
        sock = session.transport.sock
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert session.last_open_s == 0.0
        session.start("anything").close()
        assert 0 < session.last_open_s < 5
    finally:
        done.set()
        session.close()
        f.close()
