"""One SSH connection per host per run (paramiko), reused for every command.

- The connection is opened by remote/dial.py: jump host, ~/.ssh/config, pacing, retries.
  Host keys are verified against ~/.ssh/known_hosts and the inventory's file.
  Unknown: refused with the way to trust it, unless accept_new (then recorded).
  Changed: always refused.
- Commands get stdin (for secrets), a timeout, and come back as a `Result`.
- Probes (HTTP/TCP) ride a direct-tcpip channel: seen from the host's side, no
  remote command needed.
"""

from __future__ import annotations

import logging
import select
import time
from dataclasses import dataclass

import paramiko

from deployer.errors import RemoteError, Unreachable
from deployer.model import HostConn
from deployer.remote import become as bec
from deployer.remote.dial import CONNECT_TIMEOUT, Dialer, Link

# paramiko logs every refused probe channel at ERROR; our own messages say what matters.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
Channel = (
    paramiko.Channel
)  # what `Session.start` returns, for the rooms that must not import paramiko
EOF_GRACE = 2.0  # seconds a command's output is awaited after its exit status (collect)
KEEPALIVE = 15


@dataclass(frozen=True)
class Result:
    host: str
    command: str  # what ran, for messages (scripts never hold secret values)
    exited: int
    stdout: str
    stderr: str
    took: float

    @property
    def ok(self) -> bool:
        return self.exited == 0


class OutputEnd:
    """Whether a command's output has all arrived. sshd sends the exit status when the
    command ends, which can be before the last of its output: that is awaited until the end
    of the output (EOF), or for EOF_GRACE seconds when something the command left running
    holds it open."""

    def __init__(self) -> None:
        self.exited = 0.0

    def reached(self, chan: paramiko.Channel, stderr: bool = True) -> bool:
        """stderr=False: a caller that reads stderr only at the end (what it holds then
        does not keep the output open)."""
        if not chan.exit_status_ready() or chan.recv_ready():
            return False
        if stderr and chan.recv_stderr_ready():
            return False
        if chan.eof_received or chan.closed:
            return True
        self.exited = self.exited or time.monotonic()
        return time.monotonic() > self.exited + EOF_GRACE


class Session:
    """A live SSH connection to one host, with counters for benchmarks."""

    def __init__(
        self,
        conn: HostConn,
        *,
        accept_new_host_keys: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.conn = conn
        self.commands = 0
        self.connections = 0
        self._dial = Dialer(
            conn, accept_new_host_keys=accept_new_host_keys, connect_timeout=connect_timeout
        )
        self._link: Link | None = None
        self.slow_opens = 0  # session channels opened at the second asking (_session_channel)
        self.last_open_s = 0.0  # how long the last session channel took to open: a round trip

    # -- connecting (remote/dial.py) -------------------------------------------------------
    @property
    def connect_timeout(self) -> float:
        """Seconds a connection, a handshake or a channel's opening may take."""
        return self._dial.connect_timeout

    @connect_timeout.setter
    def connect_timeout(self, seconds: float) -> None:
        self._dial.connect_timeout = seconds

    @property
    def accept_new(self) -> bool:
        """Trust and record an unknown host key (a changed one is always refused)."""
        return self._dial.accept_new

    @accept_new.setter
    def accept_new(self, on: bool) -> None:
        self._dial.accept_new = on

    @property
    def retries(self) -> int:
        """Connection attempts dropped before one got through."""
        return self._dial.retries

    @property
    def jump(self) -> str | None:
        """The jump host: the inventory's deployer_ssh_jump, else ProxyJump from ~/.ssh/config."""
        return self._dial.jump

    def open(self) -> None:
        if self._link is not None:
            return
        c = self._dial.connect()
        transport = c.client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE)
        self._link = c
        self.connections += 2 if self._dial.gateway is not None else 1

    @property
    def transport(self) -> paramiko.Transport:
        self.open()
        assert self._link is not None
        t = self._link.client.get_transport()
        if t is None or not t.is_active():
            raise Unreachable(f"{self.conn.name}: connection lost")
        return t

    def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - closing must never fail a run
                pass
        self._dial.close()  # the jump host's connection

    # -- commands --------------------------------------------------------------------------
    def run(
        self,
        script: str,
        *,
        stdin: str = "",
        timeout: float = 300.0,
        counted: bool = True,
        reopen: bool = True,
    ) -> Result:
        """Run a script with the login shell; stdin carries secrets; bounded by timeout.

        counted=False: housekeeping (lock heartbeats) left out of the command counts.
        reopen=False: on a closed session, fail (RemoteError) instead of connecting again.
        """
        started = time.monotonic()
        if not reopen:
            c = self._link
            if c is None or c.client.get_transport() is None:
                raise RemoteError(f"{self.conn.name}: the connection was closed")
        chan = self.start(script, stdin=stdin, counted=counted)
        # the timeout counts from the channel's opening: a slow one (asked twice, up to twice
        # the connect timeout, see _session_channel) leaves the command its own time
        out, err, code = self.collect(chan, timeout, time.monotonic())
        return Result(self.conn.name, script, code, out, err, time.monotonic() - started)

    def start(
        self, script: str, *, stdin: str = "", keep_stdin_open: bool = False, counted: bool = True
    ) -> paramiko.Channel:
        become = self.conn.become
        if become is not None:  # the same one command, run through sudo (remote/become.py)
            script, stdin = bec.wrap(script, become), bec.stdin_prefix(become) + stdin
        try:
            chan = self._session_channel()
            chan.exec_command(script)
            if stdin:
                chan.sendall(stdin.encode())
            if not keep_stdin_open:
                chan.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError) as err:
            raise Unreachable(
                f"{self.conn.name}: connection failed while running a command: {err}"
            ) from err
        if counted:
            self.commands += 1
        return chan

    def _session_channel(self) -> paramiko.Channel:
        """A new session channel. A connection still up whose sshd did not answer the
        channel's opening within the connect timeout (CI saw it once in about 15 runs, on a
        host at load 40: a health gate then rolled back a good version for it) is asked once
        more before the command fails: a dead connection fails after twice the timeout."""
        transport = self.transport
        t0 = time.monotonic()
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
        except paramiko.SSHException as err:
            if "Timeout opening channel" not in str(err) or not transport.is_active():
                raise
            self.slow_opens += 1
            t0 = time.monotonic()  # the round trip of the one that answered
            chan = transport.open_session(timeout=self.connect_timeout)
        self.last_open_s = time.monotonic() - t0
        return chan

    def collect(
        self, chan: paramiko.Channel, timeout: float, started: float
    ) -> tuple[str, str, int]:
        out, err = bytearray(), bytearray()
        deadline = started + timeout
        end = OutputEnd()
        # poll, not select: a run of 1,000 hosts has file descriptors past select()'s 1024
        ready = select.poll()
        ready.register(chan, select.POLLIN)
        while True:
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if end.reached(chan):
                break
            if time.monotonic() > deadline:
                chan.close()
                raise RemoteError(
                    f"{self.conn.name}: a remote command timed out after {timeout:.0f}s"
                )
            if chan.eof_received:  # its pipe stays readable after EOF: wait on the status
                chan.status_event.wait(0.2)
            else:
                ready.poll(200)
        code = chan.recv_exit_status()
        chan.close()
        text = err.decode(errors="replace")
        bec.check(self.conn.name, self.conn.user, self.conn.become, code, text)
        return out.decode(errors="replace"), text, code

    # -- probes ----------------------------------------------------------------------------
    def _tunnel(self, address: str, port: int, timeout: float) -> paramiko.Channel:
        try:
            chan = self.transport.open_channel(
                "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout
            )
        except (paramiko.ChannelException, paramiko.SSHException, OSError, EOFError) as err:
            raise ConnectionRefusedError(f"{address}:{port}: {err}") from err
        chan.settimeout(timeout)
        return chan

    def probe_tcp(self, address: str, port: int, timeout: float = 3.0) -> float:
        """Seconds to connect to address:port as seen from the host; raises OSError when closed."""
        t0 = time.monotonic()
        self._tunnel(address, port, timeout).close()
        return time.monotonic() - t0

    def probe_http(
        self, address: str, port: int, path: str, timeout: float = 3.0
    ) -> tuple[int, float]:
        """(HTTP status, seconds) of GET path on address:port from the host's side."""
        t0 = time.monotonic()
        chan = self._tunnel(address, port, timeout)
        try:
            chan.sendall(
                f"GET {path} HTTP/1.0\r\nHost: {address}\r\nUser-Agent: deployer\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n" not in head and len(head) < 4096:
                chunk = chan.recv(1024)
                if not chunk:
                    break
                head += chunk
        except (TimeoutError, OSError) as err:
            raise ConnectionError(f"{address}:{port}{path}: {err}") from err
        finally:
            chan.close()
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError(f"{address}:{port}{path}: no HTTP answer")
        return int(parts[1]), time.monotonic() - t0
