"""How one host is reached over SSH: the connection opened (paramiko), through a jump host
when there is one (the inventory's deployer_ssh_jump or ~/.ssh/config's ProxyJump), with
~/.ssh/config's HostName, keys and ProxyCommand, the host key checked (remote/knownhosts),
paced (at most MAX_HANDSHAKES handshakes at once), tried again with backoff when dropped
before it is up, and a failure said as what the operator should do. remote/ssh.py's
Session runs commands over the connection it gets here.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import sys
import threading
import time
from typing import Any

import paramiko

from deployer.errors import HostKeyError, Unreachable
from deployer.model import HostConn
from deployer.remote import knownhosts, sshconfig

# Each connection's transport thread wakes from its socket read this often to look at its
# own state (closed? keepalive due?). paramiko's 0.1 s made 10,000 wake-ups a second at
# 1,000 hosts, each fighting for the GIL; 1 s is fine for a 15 s keepalive and for
# timeouts counted in seconds, and closing still returns at once (the socket is closed).
TRANSPORT_WAKE_SECONDS = 1.0
if hasattr(paramiko.Transport, "_active_check_timeout"):  # no public setting for it
    setattr(paramiko.Transport, "_active_check_timeout", TRANSPORT_WAKE_SECONDS)  # noqa: B010

CONNECT_TIMEOUT = 10.0
# Pacing: at most this many SSH handshakes at once in one run, however many forks (Kamal
# caps concurrent SSH starts at 30 too): a handshake costs the controller a key exchange.
# Set with DEPLOYER_MAX_HANDSHAKES. Through one jump host, at most JUMP_HANDSHAKES at once:
# every connection to it is an unauthenticated slot of its sshd, whose MaxStartups
# (10:30:100 by default) starts dropping connections beyond 10.
MAX_HANDSHAKES = 30
JUMP_HANDSHAKES = 10
# A connection dropped before or during the handshake (a reset, a closed socket before the
# banner: what sshd does beyond MaxStartups) is tried again, this many times in all, after
# 0.25 s, 0.5 s, 1 s (each with up to 50% random jitter, so retries do not come back as a
# storm). A refusal, an authentication failure or a host key problem is final at once.
CONNECT_TRIES = 4
RETRY_BASE = 0.25


def _handshake_limit() -> int:
    """DEPLOYER_MAX_HANDSHAKES when it is a whole number from 1 up, else MAX_HANDSHAKES (with
    a warning on stderr: this is read when the module loads, before any command runs)."""
    raw = os.environ.get("DEPLOYER_MAX_HANDSHAKES", "").strip()
    if not raw:
        return MAX_HANDSHAKES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        sys.stderr.write(
            f"warning: DEPLOYER_MAX_HANDSHAKES={raw!r} is not a whole number from 1 up: "
            f"using {MAX_HANDSHAKES}\n"
        )
        return MAX_HANDSHAKES
    return value


_handshakes = threading.BoundedSemaphore(_handshake_limit())
_jump_handshakes: dict[str, threading.BoundedSemaphore] = {}
_jump_lock = threading.Lock()


def _jump_limit(jump: str) -> threading.BoundedSemaphore:
    with _jump_lock:
        return _jump_handshakes.setdefault(jump, threading.BoundedSemaphore(JUMP_HANDSHAKES))


class Link:
    """One SSH connection: paramiko's client, the address and port it goes to, and what
    `SSHClient.connect` is given. A ProxyCommand (from ~/.ssh/config) starts at `open`."""

    def __init__(
        self, host: str, port: int, user: str, kwargs: dict[str, Any], proxy: str | None
    ) -> None:
        self.client = paramiko.SSHClient()
        self.host, self.port, self.user = host, port, user
        self.kwargs, self.proxy = kwargs, proxy

    @property
    def is_connected(self) -> bool:
        t = self.client.get_transport()
        return t is not None and t.is_active()

    def open(self) -> None:
        kwargs = dict(self.kwargs)
        if self.proxy is not None:
            kwargs["sock"] = paramiko.ProxyCommand(self.proxy)
        self.client.connect(self.host, self.port, self.user, **kwargs)
        transport = self.client.get_transport()
        sock = transport.sock if transport is not None else None
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Without it, a small SSH packet sent while the last is unacknowledged (an HTTP
            # request's body after its headers, a probe's GET) waits for the host's delayed
            # ACK: 40 ms each on Linux. ssh(1) sets it for interactive sessions only.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.client.close()


class _JumpFailed(Exception):
    """The jump host's own connection, or its channel to the target, failed (err)."""

    def __init__(self, err: BaseException) -> None:
        super().__init__(str(err))
        self.err = err


def _refused(err: BaseException) -> bool:
    """Refused on every address tried (paramiko gathers them in NoValidConnectionsError)?"""
    if isinstance(err, paramiko.ssh_exception.NoValidConnectionsError):
        errors = list(err.errors.values())
        return bool(errors) and all(
            isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED
            for e in errors
        )
    return isinstance(err, ConnectionRefusedError)


def _dropped(err: BaseException) -> bool:
    """Was the connection dropped early (worth another try), not refused or rejected?"""
    if _refused(err):
        return False
    if isinstance(err, (ConnectionResetError, ConnectionAbortedError, EOFError)):
        return True
    if isinstance(err, OSError) and err.errno in (errno.ECONNRESET, errno.EPIPE):
        return True
    text = str(err)
    cause = err.__cause__ or err.__context__
    if "timed out" in text or isinstance(cause, TimeoutError):
        return False  # a host that never answers: trying again would only wait again
    return "Error reading SSH protocol banner" in text or "Connection reset" in text


def _backoff(attempt: int) -> float:
    delay = RETRY_BASE * (2**attempt)
    return delay + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


def parse_jump(spec: str, label: str) -> tuple[str, str, int]:
    """`[user@]host[:port]`, host may be `[v6]` -> (user, host, port)."""
    if "," in spec:
        raise Unreachable(
            f"{label}: the jump host {spec!r} is a chain of jump hosts (ProxyJump a,b); "
            "deployer goes through one: set deployer_ssh_jump to a jump host that reaches "
            "this host directly"
        )
    user, _, rest = spec.rpartition("@")
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ("" if not tail else "bad")
    else:
        host, _, port = rest.partition(":")
    if (
        not host
        or host.startswith("-")  # an option of a ProxyCommand's ssh, as its %h
        or any(c in host for c in ",/ @")
        or not (port == "" or (port.isdigit() and 0 < int(port) < 65536))
    ):
        raise Unreachable(f"{label}: jump host {spec!r} is not [user@]host[:port]")
    return user, host, int(port or 22)


class Dialer:
    """The way to one host (conn): `connect` opens a new connection each time it is asked;
    the jump host's connection, when there is one, is kept (`gateway`) and reused."""

    def __init__(
        self, conn: HostConn, *, accept_new_host_keys: bool, connect_timeout: float
    ) -> None:
        self.conn = conn
        self.accept_new = accept_new_host_keys
        self.connect_timeout = connect_timeout
        self.retries = 0  # connection attempts dropped before one got through
        self.gateway: Link | None = None
        self._found: dict[str, Any] | None = None  # see config

    def close(self) -> None:
        """Close the jump host's connection, if one is kept (never fails: a next `connect`
        makes a new one)."""
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            try:
                gateway.close()
            except Exception:  # noqa: BLE001 - closing must never fail a run
                pass

    def config(self) -> dict[str, Any]:
        """What the ssh config says for the inventory's address and port, read once per
        session (the jump host, the address to ask it for, the connection's settings)."""
        if self._found is None:
            self._found = sshconfig.lookup(self.conn.address, port=self.conn.port)
        return self._found

    def make(
        self,
        host: str,
        port: int,
        user: str,
        sock: paramiko.Channel | None = None,
        found: dict[str, Any] | None = None,
    ) -> Link:
        """A connection not yet opened to HOST (an ~/.ssh/config alias: its HostName, keys
        and ProxyCommand apply; its ProxyJump is `jump`'s business), its host key checked
        against the inventory's known_hosts. `found`: the ssh config's lookup for HOST and
        PORT, when the caller has it."""
        if found is None:
            found = sshconfig.lookup(host, port=port)
        kwargs: dict[str, Any] = {
            "look_for_keys": self.conn.key_file is None,
            "allow_agent": True,
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "timeout": self.connect_timeout,
        }
        keys = [os.path.expanduser(self.conn.key_file)] if self.conn.key_file else []
        # ~/.ssh/config's keys that exist (ssh warns of a missing one and goes on)
        keys += [
            k for k in map(os.path.expanduser, found.get("identityfile", ())) if os.path.isfile(k)
        ]
        if keys:
            kwargs["key_filename"] = keys
        if self.conn.password is not None:
            kwargs["password"] = self.conn.password.reveal()
        proxy = None if sock is not None else sshconfig.proxy_command(found)
        if sock is not None:
            kwargs["sock"] = sock
        link = Link(str(found.get("hostname") or host), port, user, kwargs, proxy)
        files, record = knownhosts.files_for(self.conn)
        client = link.client
        # the name paramiko looks the key up by: the address ~/.ssh/config's HostName may
        # have replaced (an alias), and its port
        revoked = knownhosts.fill(
            client.get_host_keys(), files, knownhosts.lookup_name(link.host, port), self.conn.name
        )
        client.set_missing_host_key_policy(
            knownhosts.Policy(self.accept_new, record, self.conn.name, revoked)
        )
        return link

    @property
    def jump(self) -> str | None:
        """The jump host: the inventory's deployer_ssh_jump, else ProxyJump from ~/.ssh/config."""
        return self.conn.jump or sshconfig.proxy_jump(self.config())

    def _through(self, jump: str) -> paramiko.Channel:
        """A channel to the target through the jump host: the jump host's connection made
        once (paced, and at most JUMP_HANDSHAKES at once to one jump host), the channel
        opened within the connect timeout (outside the handshake limits: a jump host slow to
        reach a dead target holds no one else up)."""
        try:
            if self.gateway is None or not self.gateway.is_connected:
                user, host, port = parse_jump(jump, self.conn.name)
                found = sshconfig.lookup(host, port=port)
                self._one_hop(jump, host, found)
                gateway = self.make(host, port, user or self.conn.user, found=found)
                self.gateway = gateway
                with _jump_limit(jump), _handshakes:
                    gateway.open()
            transport = self.gateway.client.get_transport()
            assert transport is not None
            # the target as ~/.ssh/config names it (HostName), as `ssh -J` asks the jump host
            target = self.config().get("hostname")
            return transport.open_channel(
                "direct-tcpip",
                (str(target or self.conn.address), self.conn.port),
                ("", 0),
                timeout=self.connect_timeout,
            )
        except HostKeyError:
            self.close()
            raise
        except (OSError, paramiko.SSHException, EOFError) as err:
            self.close()
            raise _JumpFailed(err) from err

    def _one_hop(self, jump: str, host: str, found: dict[str, Any]) -> None:
        """Refuse a jump host that ~/.ssh/config sends through a jump host of its own
        (`found`: the ssh config's lookup for it): deployer goes through one, and would
        otherwise try to reach it directly."""
        own = sshconfig.proxy_jump(found)
        if own is None:
            return
        try:
            via = parse_jump(own, self.conn.name)[1]
        except Unreachable:
            via = own
        if via not in (host, found.get("hostname")):  # `Host *` matches it too
            raise Unreachable(
                f"{self.conn.name}: the jump host {jump} has a jump host of its own in "
                f"~/.ssh/config ({own}); deployer goes through one jump host: set "
                "deployer_ssh_jump to one that reaches this host directly"
            )

    def connect(self) -> Link:
        """Open the connection (through the jump host if any), paced (at most MAX_HANDSHAKES
        at once in this process) and tried again with backoff when it is dropped before it
        is up."""
        jump = self.jump
        for attempt in range(CONNECT_TRIES):
            c: Link | None = None
            try:
                sock = self._through(jump) if jump else None
                c = self.make(
                    self.conn.address, self.conn.port, self.conn.user, sock, self.config()
                )
                with _handshakes:
                    c.open()
                self.retries = attempt
                return c
            except HostKeyError:
                if c is not None:
                    c.close()  # its transport thread, socket and any ProxyCommand
                raise
            except (_JumpFailed, OSError, paramiko.SSHException, EOFError) as caught:
                err = caught.err if isinstance(caught, _JumpFailed) else caught
                if c is not None:
                    c.close()
                if (
                    isinstance(
                        err,
                        paramiko.BadHostKeyException
                        | paramiko.AuthenticationException
                        | paramiko.ChannelException,
                    )
                    or not _dropped(err)
                    or attempt == CONNECT_TRIES - 1
                ):
                    self._fail(err, jump, attempt + 1, isinstance(caught, _JumpFailed))
                time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _fail(self, err: BaseException, jump: str | None, tries: int, at_jump: bool) -> None:
        """Raise what a failed connection means, for the operator: which host (the target,
        or the jump host in front of it), and what to do."""
        name, where = self.conn.name, f"{self.conn.address}:{self.conn.port}"
        if isinstance(err, paramiko.BadHostKeyException):
            raise HostKeyError(
                f"{name}: HOST KEY CHANGED for {err.hostname}! Expected "
                f"{err.expected_key.get_name()} {err.expected_key.fingerprint}, got "
                f"{err.key.get_name()} {err.key.fingerprint}. This may be an attack; refusing. "
                f"If the host was really rebuilt, remove its old line from known_hosts."
            ) from err
        if at_jump and isinstance(err, paramiko.ChannelException):
            raise Unreachable(
                f"{name}: the jump host {jump} cannot reach {where}: {err} (is the host up? "
                "is ansible_host right, as the jump host sees it?)"
            ) from err
        if at_jump and "Timeout opening channel" in str(err):
            raise Unreachable(
                f"{name}: the jump host {jump} did not reach {where} within "
                f"{self.connect_timeout:g} s (is the host up? is ansible_host right, as the jump "
                "host sees it?)"
            ) from err
        who = f"the jump host {jump}" if at_jump else where
        login = "the jump host's login" if at_jump else self.conn.user
        if isinstance(err, paramiko.AuthenticationException):
            raise Unreachable(f"{name}: authentication failed as {login}: {err}") from err
        if "No authentication methods" in str(err):
            raise Unreachable(
                f"{name}: authentication failed as {login}: no key, agent or "
                "password to offer (set ansible_ssh_private_key_file, load the key into ssh-agent, "
                "or set deployer_ssh_password_env)"
            ) from err
        via = f" via {jump}" if jump and not at_jump else ""
        if _refused(err):
            raise Unreachable(
                f"{name}: connection refused by {who}{via}: nothing listens there "
                f"(is sshd running? is {'the jump host spec' if at_jump else 'ansible_port'} right?)"
            ) from err
        after = f" ({tries} tries: the connection was dropped each time)" if tries > 1 else ""
        text = str(err) or type(err).__name__
        raise Unreachable(f"{name}: cannot connect to {who}{via}: {text}{after}") from err
