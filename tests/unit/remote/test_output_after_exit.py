"""A command's output that arrives after its exit status is still collected: sshd sends
`exit-status` when the command ends, which can be before the last of what it printed
reaches the client. Reading stopped at the exit status lost the tail (in CI: the engine's
address line at the end of the first command, so a prepare took the CLI path for "the
engine's address was not reported"). A real SSH server (paramiko's server side) on
127.0.0.1 answers in that order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paramiko
import pytest

from deployer.remote import ssh
from tests.unit.remote.test_connect_pacing import Front, OpenServer, conn_to


class _ExitFirst(OpenServer):
    """Exit status first, then (later) the output, then EOF; or never EOF (`hold`)."""

    def __init__(self, hold: bool) -> None:
        self.hold = hold

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            time.sleep(0.1)
            channel.sendall(b"head\n")
            channel.send_exit_status(0)
            time.sleep(0.4)  # the tail still on its way when the status is in
            channel.sendall(b"tail\n")
            channel.sendall_stderr(b"late")
            if not self.hold:
                channel.shutdown_write()  # EOF
                time.sleep(0.1)
                channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


def _run(tmp_path: Path, hold: bool) -> tuple[ssh.Result, float]:
    key = paramiko.RSAKey.generate(2048)
    done = threading.Event()

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_ExitFirst(hold))
        chan = t.accept(5)  # held: a channel object dropped is closed
        done.wait(10)
        assert chan is not None
        t.close()

    f = Front(serve)
    session = ssh.Session(conn_to(f.port, tmp_path, key), connect_timeout=5)
    try:
        t0 = time.monotonic()
        res = session.run("print", timeout=10)
        return res, time.monotonic() - t0
    finally:
        done.set()
        session.close()
        f.close()


def test_output_sent_after_the_exit_status_is_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All of it, and the end of the output (EOF) ends the wait, not the grace."""
    monkeypatch.setattr(ssh, "EOF_GRACE", 60.0)
    res, took = _run(tmp_path, hold=False)
    assert (res.stdout, res.stderr, res.exited) == ("head\ntail\n", "late", 0)
    assert took < 30, took


def test_output_held_open_by_a_leftover_ends_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something the command started keeps its output open (no EOF): the run still ends,
    EOF_GRACE after the exit status, with what arrived."""
    monkeypatch.setattr(ssh, "EOF_GRACE", 1.0)
    res, took = _run(tmp_path, hold=True)
    assert (res.stdout, res.stderr, res.exited) == ("head\ntail\n", "late", 0)
    assert 1.0 <= took < 4.0, took


class _LogsFail(_ExitFirst):
    """`docker logs` that fails: an error on stderr, exit 1, EOF (as a missing container)."""

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            time.sleep(0.1)
            channel.sendall_stderr(b"Error: No such container: web")
            channel.send_exit_status(1)
            channel.shutdown_write()
            time.sleep(0.1)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


def test_logs_report_a_failure_said_on_stderr(tmp_path: Path) -> None:
    """`deployer logs` reads a host's stderr only when its command ends: that stderr must
    not keep the reader waiting for the end (it waited until Ctrl-C, saying nothing)."""
    import queue

    from deployer.cli.daytwo import _read_logs

    key = paramiko.RSAKey.generate(1024)
    done = threading.Event()

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_LogsFail(hold=False))
        chan = t.accept(5)
        done.wait(10)
        assert chan is not None

    f = Front(serve)
    out: queue.Queue[tuple[str, str, str | None]] = queue.Queue()
    reader = threading.Thread(
        target=_read_logs,
        args=(conn_to(f.port, tmp_path, key), "web", "logs", False, False, out, threading.Event()),
        daemon=True,
    )
    try:
        reader.start()
        reader.join(10)
        assert not reader.is_alive()
    finally:
        done.set()
        f.close()
    assert out.get_nowait() == (
        "h",
        "web: logs ended (exit 1): Error: No such container: web",
        None,
    )


class _CodeAfterStatus(OpenServer):
    """A watcher whose exit status comes before the exit code it printed."""

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            time.sleep(0.1)
            channel.send_exit_status(0)
            time.sleep(0.3)
            channel.sendall(b"137\n")
            channel.shutdown_write()
            time.sleep(0.1)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


def test_the_shell_watcher_reads_the_code_that_follows_its_exit_status(tmp_path: Path) -> None:
    """The gate's shell watcher said "?" for a container whose `docker wait` code was
    still on its way when the exit status came: the same end of output as collect's."""
    from deployer.targets.container import _ShellWatch

    key = paramiko.RSAKey.generate(1024)
    done = threading.Event()

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_CodeAfterStatus())
        chan = t.accept(5)
        done.wait(10)
        assert chan is not None

    f = Front(serve)
    session = ssh.Session(conn_to(f.port, tmp_path, key), connect_timeout=5)
    try:
        watch = _ShellWatch(session, "c" * 64, "")
        seen = None
        for _ in range(50):
            seen = watch.stopped()
            if seen is not None:
                break
            time.sleep(0.05)
        watch.close()
    finally:
        done.set()
        session.close()
        f.close()
    assert seen == "137"
