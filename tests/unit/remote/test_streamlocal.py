"""The stream-local channel open (remote/streamlocal.py): the message as OpenSSH's PROTOCOL
lays it out, and the open against a real SSH server (paramiko's server side, in process):
accepted (data flows both ways), refused (the reason, as a deployer error), no answer
(bounded by the timeout). The lab tests open it against OpenSSH and the engine's socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import paramiko
import pytest
from paramiko.common import MSG_CHANNEL_OPEN
from paramiko.message import Message

from deployer.errors import RemoteError
from deployer.remote.streamlocal import (
    KIND,
    StreamLocalRefused,
    channel_open_message,
    open_streamlocal,
)

HOST_KEY = paramiko.RSAKey.generate(1024)  # a test key: fast to make


def test_the_message_carries_the_path_then_the_reserved_string_and_int() -> None:
    m = Message(channel_open_message(7, 2097152, 32768, "/run/docker.sock").asbytes())
    assert m.get_byte()[0] == MSG_CHANNEL_OPEN
    assert m.get_text() == KIND == "direct-streamlocal@openssh.com"
    assert (m.get_int(), m.get_int(), m.get_int()) == (7, 2097152, 32768)
    assert m.get_text() == "/run/docker.sock"
    assert m.get_text() == ""  # reserved
    assert m.get_int() == 0  # reserved
    assert m.get_remainder() == b""


class _Server(paramiko.ServerInterface):
    def __init__(self, answer: int | None) -> None:
        self.answer = answer  # None: never answer the channel open
        self.asked: list[str] = []
        self.hold = threading.Event()

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        self.asked.append(kind)
        if self.answer is None:
            self.hold.wait(5)  # an answer that never comes in time
            return paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
        return self.answer


@pytest.fixture
def pair(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[paramiko.Transport, paramiko.Transport, _Server]]:
    a, b = socket.socketpair()
    server_t = paramiko.Transport(a)
    server_t.add_server_key(HOST_KEY)
    server = _Server(request.param)
    server_t.start_server(event=threading.Event(), server=server)  # returns at once
    client_t = paramiko.Transport(b)
    client_t.connect()
    client_t.auth_none("me")
    yield client_t, server_t, server
    server.hold.set()
    client_t.close()
    server_t.close()


@pytest.mark.parametrize("pair", [paramiko.OPEN_SUCCEEDED], indirect=True)
def test_an_accepted_channel_carries_data_both_ways(pair) -> None:
    client_t, server_t, server = pair
    chan = open_streamlocal(client_t, "/run/x.sock", host="h1", timeout=5)
    far = server_t.accept(5)
    assert far is not None and server.asked == [KIND]
    chan.sendall(b"GET /_ping HTTP/1.1\r\n\r\n")
    assert far.recv(100) == b"GET /_ping HTTP/1.1\r\n\r\n"
    far.sendall(b"OK")
    assert chan.recv(10) == b"OK"
    # the transport stays usable: a second channel, as the HTTP pool opens when it needs one
    second = open_streamlocal(client_t, "/run/x.sock", host="h1", timeout=5)
    assert second.get_id() != chan.get_id()


@pytest.mark.parametrize("pair", [paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED], indirect=True)
def test_a_refused_channel_is_a_deployer_error_with_the_reason(pair) -> None:
    client_t, _server_t, _server = pair
    with pytest.raises(StreamLocalRefused) as caught:
        open_streamlocal(client_t, "/run/x.sock", host="h1", timeout=5)
    assert caught.value.reason == "stream-local forwarding refused by the server"
    assert "h1: cannot reach /run/x.sock over SSH" in str(caught.value)
    assert isinstance(caught.value, RemoteError)
    assert client_t.is_active()  # the connection itself is fine


@pytest.mark.parametrize("pair", [None], indirect=True)
def test_no_answer_is_bounded_by_the_timeout(pair) -> None:
    client_t, _server_t, _server = pair
    with pytest.raises(RemoteError, match="no answer opening a channel to /run/x.sock in 0.3 s"):
        open_streamlocal(client_t, "/run/x.sock", host="h1", timeout=0.3)
