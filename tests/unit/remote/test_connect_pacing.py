"""Connection pacing: bounded concurrent handshakes, retries with backoff when a connection
is dropped before it is up (what sshd does beyond MaxStartups), final errors at once.

Real sockets on 127.0.0.1 and a real SSH server (paramiko's server side), no mocks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import paramiko
import pytest

from deployer.errors import Unreachable
from deployer.model import HostConn, Secret
from deployer.remote import dial, ssh


class Handshakes:
    """Server side: how many handshakes (accept to authenticated) were under way at once."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def begin(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def end(self) -> None:
        with self.lock:
            self.now -= 1


class _Server(paramiko.ServerInterface):
    def __init__(self, shakes: Handshakes | None) -> None:
        self.shakes = shakes

    def check_auth_password(self, username: str, password: str) -> int:
        if password != "pw":
            return paramiko.AUTH_FAILED
        if self.shakes is not None:
            time.sleep(0.2)  # a slow server: handshakes overlap unless paced
            self.shakes.end()
        return paramiko.AUTH_SUCCESSFUL

    def get_allowed_auths(self, username: str) -> str:
        return "password"


class OpenServer(paramiko.ServerInterface):
    """A server that lets in the password `pw` (conn_to's) and opens every channel asked
    for; subclasses say what a channel does."""

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == "pw" else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED


class Front:
    """Listens on 127.0.0.1; `handle(index, sock)` serves each connection in a thread.
    Counts connections and the most open at once."""

    def __init__(self, handle: Callable[[int, socket.socket], None]) -> None:
        self.handle = handle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.open_now = 0
        self.most_open = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                index = self.accepted
                self.accepted += 1
                self.open_now += 1
                self.most_open = max(self.most_open, self.open_now)
            threading.Thread(target=self._serve, args=(index, conn), daemon=True).start()

    def _serve(self, index: int, conn: socket.socket) -> None:
        try:
            self.handle(index, conn)
        finally:
            with self._lock:
                self.open_now -= 1

    def close(self) -> None:
        self.sock.close()


@contextmanager
def session_with(
    server: paramiko.ServerInterface, tmp_path: Path, connect_timeout: float
) -> Iterator[ssh.Session]:
    """A Session, opened, to one connection served by SERVER on 127.0.0.1 that keeps every
    channel it accepts (a channel object dropped is closed) until the block ends."""
    key = paramiko.RSAKey.generate(2048)
    done = threading.Event()

    def serve(index: int, sock: socket.socket) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=server)
        held = []
        while not done.is_set():
            chan = t.accept(0.2)
            if chan is not None:
                held.append(chan)
        t.close()

    f = Front(serve)
    session = ssh.Session(conn_to(f.port, tmp_path, key), connect_timeout=connect_timeout)
    try:
        session.open()
        yield session
    finally:
        done.set()
        session.close()
        f.close()


@pytest.fixture(scope="module")
def host_key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(2048)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Backoff without the wait; returns the attempts that backed off."""
    waits: list[int] = []

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        return 0.0

    monkeypatch.setattr(dial, "_backoff", backoff)
    return waits


def conn_to(port: int, tmp_path: Path, key: paramiko.PKey) -> HostConn:
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")
    return HostConn(
        name="h",
        address="127.0.0.1",
        port=port,
        user="me",
        password=Secret("test", "pw"),
        known_hosts=(str(known),),
    )


def serve_ssh(
    key: paramiko.PKey, shakes: Handshakes | None = None
) -> Callable[[socket.socket], None]:
    def serve(sock: socket.socket) -> None:
        if shakes is not None:
            shakes.begin()
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        try:
            t.start_server(server=_Server(shakes))
            t.accept(5)
            time.sleep(0.5)  # long enough for the client to see the connection up
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the client hung up (a refused host key closes the connection at once)
        finally:
            t.close()

    return serve


def test_a_connection_dropped_twice_before_the_banner_gets_through_on_the_third_try(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int], front: list[Front]
) -> None:
    serve = serve_ssh(host_key)

    def handle(index: int, sock: socket.socket) -> None:
        if index < 2:
            sock.close()  # as sshd beyond MaxStartups: closed before the banner
        else:
            serve(sock)

    f = Front(handle)
    front.append(f)
    session = ssh.Session(conn_to(f.port, tmp_path, host_key), connect_timeout=5)
    try:
        session.open()
        assert session.transport.is_authenticated()
    finally:
        session.close()
    assert f.accepted == 3
    assert fast_retries == [0, 1]
    assert session.retries == 2


def test_a_host_that_drops_every_try_is_unreachable_after_the_last_with_the_count(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int], front: list[Front]
) -> None:
    f = Front(lambda index, sock: sock.close())
    front.append(f)
    session = ssh.Session(conn_to(f.port, tmp_path, host_key), connect_timeout=5)
    with pytest.raises(Unreachable, match=rf"h: cannot connect to 127.0.0.1:{f.port}: .*4 tries"):
        session.open()
    assert f.accepted == dial.CONNECT_TRIES == 4
    assert fast_retries == [0, 1, 2]


def test_a_refusal_is_final_at_once_and_says_nothing_listens(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int]
) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    session = ssh.Session(conn_to(port, tmp_path, host_key), connect_timeout=5)
    with pytest.raises(
        Unreachable, match=r"h: connection refused by 127.0.0.1:\d+: nothing listens"
    ):
        session.open()
    assert fast_retries == []


def test_a_wrong_password_is_final_at_once(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int], front: list[Front]
) -> None:
    serve = serve_ssh(host_key)
    f = Front(lambda index, sock: serve(sock))
    front.append(f)
    wrong = replace(conn_to(f.port, tmp_path, host_key), password=Secret("test", "nope"))
    with pytest.raises(Unreachable, match="h: authentication failed as me"):
        ssh.Session(wrong, connect_timeout=5).open()
    assert f.accepted == 1 and fast_retries == []


def test_at_most_max_handshakes_at_once(
    tmp_path: Path,
    host_key: paramiko.PKey,
    fast_retries: list[int],
    front: list[Front],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dial, "_handshakes", threading.BoundedSemaphore(2))
    shakes = Handshakes()
    serve = serve_ssh(host_key, shakes)
    f = Front(lambda index, sock: serve(sock))
    front.append(f)
    conn = conn_to(f.port, tmp_path, host_key)
    sessions = [ssh.Session(conn, connect_timeout=5) for _ in range(6)]
    threads = [threading.Thread(target=s.open) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert all(s.transport.is_authenticated() for s in sessions)
    finally:
        for s in sessions:
            s.close()
    assert f.accepted == 6
    assert shakes.most == 2, shakes.most  # six connections, two handshakes at a time
    assert f.most_open > 2  # connected ones stay open: only handshakes are paced


def test_a_host_that_never_sends_its_banner_is_not_tried_again(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int], front: list[Front]
) -> None:
    f = Front(lambda index, sock: time.sleep(3))  # accepts, says nothing
    front.append(f)
    session = ssh.Session(conn_to(f.port, tmp_path, host_key), connect_timeout=0.5)
    with pytest.raises(Unreachable, match="h: cannot connect to"):
        session.open()
    assert f.accepted == 1 and fast_retries == []


# -- through a jump host ----------------------------------------------------------------------


class _Jump(paramiko.ServerInterface):
    """A jump host: password login, direct-tcpip channels relayed to 127.0.0.1:`to` (or, with
    `stall`, answered "connect failed" after that long, as a jump host whose own connect to a
    dead target times out)."""

    def __init__(self, stall: float | None) -> None:
        self.stall = stall

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == "pw" else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        if self.stall is not None:
            time.sleep(self.stall)
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        return paramiko.OPEN_SUCCEEDED


def _pump(a: Any, b: Any) -> None:
    try:
        while data := a.recv(32768):
            b.sendall(data)
    except OSError:
        pass
    finally:
        b.close()


def serve_jump(key: paramiko.PKey, to: int, stall: float | None = None) -> Callable[..., None]:
    def serve(index: int, sock: socket.socket) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=_Jump(stall))
        while t.is_active():
            chan = t.accept(0.5)
            if chan is None:
                continue
            up = socket.create_connection(("127.0.0.1", to))
            threading.Thread(target=_pump, args=(chan, up), daemon=True).start()
            threading.Thread(target=_pump, args=(up, chan), daemon=True).start()

    return serve


def behind(jump: Front, target_port: int, tmp_path: Path, key: paramiko.PKey) -> HostConn:
    conn = conn_to(target_port, tmp_path, key)
    known = Path(conn.known_hosts[0])
    known.write_text(
        known.read_text() + f"[127.0.0.1]:{jump.port} {key.get_name()} {key.get_base64()}\n"
    )
    return replace(conn, jump=f"127.0.0.1:{jump.port}")


def test_a_target_behind_a_jump_host_dropped_twice_gets_through_on_one_jump_connection(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int], front: list[Front]
) -> None:
    serve = serve_ssh(host_key)
    target = Front(lambda index, sock: sock.close() if index < 2 else serve(sock))
    jump = Front(serve_jump(host_key, target.port))
    front += [target, jump]
    session = ssh.Session(behind(jump, target.port, tmp_path, host_key), connect_timeout=5)
    try:
        session.open()
        assert session.transport.is_authenticated()
    finally:
        session.close()
    assert (target.accepted, jump.accepted, session.retries) == (3, 1, 2)


def test_a_jump_host_slow_to_reach_its_target_holds_no_one_up_and_fails_in_time(
    tmp_path: Path,
    host_key: paramiko.PKey,
    fast_retries: list[int],
    front: list[Front],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dial, "_handshakes", threading.BoundedSemaphore(1))
    serve = serve_ssh(host_key)
    direct = Front(lambda index, sock: serve(sock))
    jump = Front(serve_jump(host_key, 1, stall=3.0))  # its connect to the target hangs 3 s
    front += [direct, jump]
    stuck = ssh.Session(behind(jump, 1, tmp_path, host_key), connect_timeout=1)
    errors: list[str] = []

    def open_stuck() -> None:
        try:
            stuck.open()
        except Unreachable as err:
            errors.append(str(err))

    t = threading.Thread(target=open_stuck)
    t.start()
    while jump.accepted == 0:
        time.sleep(0.01)
    healthy = ssh.Session(conn_to(direct.port, tmp_path, host_key), connect_timeout=1)
    healthy.open()  # with the one slot held by the stuck channel, this would time out
    healthy.close()
    t.join(10)
    assert errors and f"the jump host 127.0.0.1:{jump.port} did not reach" in errors[0], errors


def test_a_refusing_jump_host_is_named_not_the_target(
    tmp_path: Path, host_key: paramiko.PKey, fast_retries: list[int]
) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conn = replace(conn_to(22, tmp_path, host_key), address="10.9.9.9", jump=f"127.0.0.1:{port}")
    with pytest.raises(Unreachable, match=rf"connection refused by the jump host 127.0.0.1:{port}"):
        ssh.Session(conn, connect_timeout=2).open()
    assert fast_retries == []


@pytest.mark.parametrize(
    "raw,want,warned",
    [
        ("", 30, False),
        ("12", 12, False),
        (" 5 ", 5, False),
        ("0", 30, True),
        ("abc", 30, True),
        ("²", 30, True),
        ("-3", 30, True),
    ],
)
def test_the_handshake_limit_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raw: str,
    want: int,
    warned: bool,
) -> None:
    monkeypatch.setenv("DEPLOYER_MAX_HANDSHAKES", raw)
    assert dial._handshake_limit() == want
    assert ("DEPLOYER_MAX_HANDSHAKES" in capsys.readouterr().err) is warned
