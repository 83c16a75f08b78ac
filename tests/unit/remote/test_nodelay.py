"""The SSH connection's socket sends at once (TCP_NODELAY): without it, an SSH packet sent
while the previous one is unacknowledged (an HTTP request's body after its headers over the
Engine API, a probe's GET) waited for the host's delayed ACK, 40 ms on Linux, and a health
report's facts took 130-170 ms a host instead of 45-60 on the lab. And a command's channel
opening is timed: the round trip the health report shows as the SSH latency."""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko

from tests.unit.remote.test_connect_pacing import OpenServer, session_with


class _Exec(OpenServer):
    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        return True


def test_the_connection_sends_at_once_and_times_its_channel_openings(tmp_path: Path) -> None:
    with session_with(_Exec(), tmp_path, connect_timeout=5) as session:
        sock = session.transport.sock
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert session.last_open_s == 0.0
        session.start("anything").close()
        assert 0 < session.last_open_s < 5
