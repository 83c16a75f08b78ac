"""A command's output is collected when the run already holds over 1,024 file
descriptors (1,000 hosts: a socket and a channel pipe each): select() refuses those
("filedescriptor out of range"), and 391 of 1,000 light-lab hosts failed that way.
A real SSH server (paramiko's server side) on 127.0.0.1 runs the command."""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from deployer.remote import dial, ssh
from tests.unit.remote.test_connect_pacing import Front, OpenServer, conn_to


class _Exec(OpenServer):
    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            time.sleep(0.2)  # after the server's reply to the exec request
            channel.sendall(b"out:" + command)
            channel.sendall_stderr(b"err")
            channel.send_exit_status(3)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(soft, hard) < 1200:
        pytest.skip("needs 1,200 open files")
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    yield
    for fd in fds:
        os.close(fd)


def test_a_command_is_collected_with_file_descriptors_past_1024(
    tmp_path: Path, many_fds: None
) -> None:
    key = paramiko.RSAKey.generate(2048)

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_Exec())
        chan = t.accept(5)
        done = threading.Event()
        if chan is not None:
            done.wait(5)
        t.close()

    f = Front(serve)
    session = ssh.Session(conn_to(f.port, tmp_path, key), connect_timeout=5)
    try:
        res = session.run("echo hi", timeout=10)
    finally:
        session.close()
        f.close()
    assert (res.stdout, res.stderr, res.exited) == ("out:echo hi", "err", 3)


def test_a_transport_thread_wakes_once_a_second_not_ten_times(tmp_path: Path) -> None:
    """paramiko's transport thread reads its socket with this timeout and wakes at each
    one: at 0.1 s, 1,000 hosts meant 10,000 wake-ups a second fighting for the GIL
    (a 1,000-host no-op: controller CPU 138 s -> 37 s, wall 215 s -> 142 s)."""
    key = paramiko.RSAKey.generate(2048)

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_Exec())
        t.accept(2)
        t.close()

    f = Front(serve)
    session = ssh.Session(conn_to(f.port, tmp_path, key), connect_timeout=5)
    try:
        session.open()
        assert session.transport.sock.gettimeout() == dial.TRANSPORT_WAKE_SECONDS == 1.0
    finally:
        session.close()
        f.close()
