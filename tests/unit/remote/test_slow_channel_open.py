"""A session channel whose opening sshd answers late: asked once more on a connection still
up (CI once saw "Timeout opening channel." on a loaded lab host, and the health gate rolled
back a good version for it), and a failure within twice the timeout when sshd never answers.
A real SSH server (paramiko's server side) on 127.0.0.1; its transport thread sleeps in the
channel request, as a starved sshd would."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paramiko
import pytest

from deployer.errors import Unreachable
from tests.unit.remote.test_connect_pacing import OpenServer, session_with


class _SlowOpen(OpenServer):
    """The first `late` session channels are answered after `delay` seconds; a command
    prints `ok`."""

    def __init__(self, late: int, delay: float) -> None:
        self.late, self.delay = late, delay
        self.asked = 0

    def check_channel_request(self, kind: str, chanid: int) -> int:
        self.asked += 1
        if self.asked <= self.late:
            time.sleep(self.delay)
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            time.sleep(0.1)  # after the server's answer to the exec request
            channel.sendall(b"ok\n")
            channel.send_exit_status(0)
            channel.shutdown_write()
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


def test_a_channel_opened_late_is_asked_again_and_the_command_runs(tmp_path: Path) -> None:
    server = _SlowOpen(late=1, delay=1.5)
    with session_with(server, tmp_path, connect_timeout=1) as session:
        # a timeout shorter than the wait for the channel: it counts from its opening
        res = session.run("print", timeout=1)
        assert (res.stdout, res.exited, session.slow_opens, server.asked) == ("ok\n", 0, 1, 2)
        assert session.last_open_s < 1  # the second asking's round trip, not the whole wait


def test_a_channel_never_opened_fails_the_command_within_twice_the_timeout(
    tmp_path: Path,
) -> None:
    server = _SlowOpen(late=99, delay=30)
    with session_with(server, tmp_path, connect_timeout=1) as session:
        t0 = time.monotonic()
        with pytest.raises(Unreachable, match="Timeout opening channel"):
            session.run("print", timeout=10)
        assert time.monotonic() - t0 < 10  # 2 x 1 s, with room for a loaded machine
        assert session.slow_opens == 1
