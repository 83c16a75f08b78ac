"""A stream-local forward: a channel on the session's SSH transport to a unix socket on the
host (OpenSSH's `direct-streamlocal@openssh.com`, `ssh -L local:/path/to.sock`).

OpenSSH's PROTOCOL file, section 2.4: the channel open carries, after the usual channel
fields, `string socket path`, `string reserved` ("") and `uint32 reserved` (0). paramiko's
`Transport.open_channel` packs the extra fields only for its own kinds (direct-tcpip,
forwarded-tcpip, x11), so `open_streamlocal` sends the message itself and then does what
open_channel does after packing: register the channel, send, wait for the server's answer
(`_parse_channel_open_success` / `_failure` fill it in), bounded by a timeout. The same
transport-internal attributes open_channel uses, nothing else (paramiko 3.4 to 5.x).

The server checks the path as the login user (its permissions), and may refuse the kind
altogether (`AllowStreamLocalForwarding no`, `no-port-forwarding` in authorized_keys):
both come back as `StreamLocalRefused`, which says why.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paramiko
from paramiko.common import cMSG_CHANNEL_OPEN
from paramiko.message import Message

from deployer.errors import RemoteError

KIND = "direct-streamlocal@openssh.com"

# RFC 4254 5.1's reason codes. OpenSSH 9.2 answers 2 ("open failed") when
# AllowStreamLocalForwarding is no, and when connecting to the socket failed: the caller
# checked first that the socket is there and the login user may use it (see
# docker/engine_route.py), so that 2 (like 1) means a refusal in practice.
REFUSED = "stream-local forwarding refused by the server"
_REASONS = {
    1: REFUSED,
    2: REFUSED,
    3: "the server has no stream-local forwarding",
    4: "resource shortage on the server",
}


class StreamLocalRefused(RemoteError):
    """The server did not open the channel; `reason` says why, in a few words."""

    def __init__(self, host: str, path: str, reason: str) -> None:
        super().__init__(f"{host}: cannot reach {path} over SSH: {reason}")
        self.reason = reason


def channel_open_message(chanid: int, window: int, max_packet: int, path: str) -> Message:
    """The SSH_MSG_CHANNEL_OPEN of a stream-local forward to `path`. Pure."""
    m = Message()
    m.add_byte(cMSG_CHANNEL_OPEN)
    m.add_string(KIND)
    m.add_int(chanid)
    m.add_int(window)
    m.add_int(max_packet)
    m.add_string(path)  # the socket path on the host
    m.add_string("")  # reserved
    m.add_int(0)  # reserved
    return m


def open_streamlocal(
    transport: paramiko.Transport, path: str, *, host: str = "", timeout: float = 10.0
) -> paramiko.Channel:
    """A channel connected to the unix socket `path` on the host; StreamLocalRefused when
    the server refuses it, RemoteError when the transport fails or the answer takes longer
    than `timeout` seconds."""
    t: Any = transport  # its internals, untyped in the stubs (see the module's docstring)
    if not t.is_active():
        raise RemoteError(f"{host}: connection lost")
    event = threading.Event()
    with t.lock:  # what open_channel does under the transport's lock, with our message
        window = t._sanitize_window_size(None)  # noqa: SLF001 - see the module's docstring
        max_packet = t._sanitize_packet_size(None)  # noqa: SLF001
        chanid = t._next_channel()  # noqa: SLF001
        chan: Any = paramiko.Channel(chanid)
        t._channels.put(chanid, chan)  # noqa: SLF001
        t.channel_events[chanid] = event
        t.channels_seen[chanid] = True
        chan._set_transport(t)  # noqa: SLF001
        chan._set_window(window, max_packet)  # noqa: SLF001
    t._send_user_message(channel_open_message(chanid, window, max_packet, path))  # noqa: SLF001
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not t.is_active():
            raise RemoteError(f"{host}: connection lost while opening a channel to {path}")
        if time.monotonic() > deadline:
            # a late answer finds no event and is dropped by paramiko; the id stays unused
            t._channels.delete(chanid)  # noqa: SLF001
            raise RemoteError(f"{host}: no answer opening a channel to {path} in {timeout:g} s")
    if t._channels.get(chanid) is None:  # noqa: SLF001 - removed again on a failure
        raise StreamLocalRefused(host, path, _reason(t.get_exception()))
    return chan


def _reason(err: Exception | None) -> str:
    """paramiko keeps a failure as ChannelException(code, text)."""
    if isinstance(err, paramiko.ChannelException):
        return _REASONS.get(err.code, f"refused ({err.code}: {err.text})")
    return f"refused ({err or 'no reason given'})"
