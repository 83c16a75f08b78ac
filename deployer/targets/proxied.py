"""One container behind the host's reverse proxy, over SSH: start next to the live one,
health-check it directly, switch the route, drain, retire the old one. Never prints.

The live version keeps its name and its traffic until the new one passed its gate: a
version that never turns healthy never receives a request, and a failed attempt only
removes what it started.
"""

from __future__ import annotations

import re

from deployer.docker import commands as cmd
from deployer.docker import proxy as px
from deployer.docker import proxy_container as pxc
from deployer.errors import RemoteError
from deployer.model import ContainerSpec, HostConn, Observed, ProxySpec, proxy_from_public
from deployer.remote.ssh import Session
from deployer.targets import Attempt, GateResult, Restored, Started
from deployer.targets import container as ct

SWITCH_SLACK_SECONDS = 90  # renames and the round trips around a switch


_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----")


def pem_blocks(path: str, kind: str, host: str) -> str:
    """The PEM blocks of a certificate or key file, and nothing else (openssl's `subject=`
    lines and the like stay behind): plain ASCII, so byte counts and JSON stay exact."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as err:
        raise RemoteError(f"{host}: proxy TLS file {path}: {err}") from err
    blocks = [
        m.group(0).replace(b"\r", b"") for m in _PEM.finditer(data) if kind in m.group(1).decode()
    ]
    if not blocks:
        raise RemoteError(f"{host}: proxy TLS file {path}: no PEM {kind} block in it")
    return (b"\n".join(blocks) + b"\n").decode("ascii")


def recorded_route(c: Observed) -> ProxySpec | None:
    """The proxy settings a container was deployed with (from its recorded spec)."""
    return proxy_from_public(c.spec.get("proxy"))


class Proxied:
    """The proxy-mode steps of one host's engine (an SshEngine delegates proxied specs)."""

    def __init__(self, session: Session, conn: HostConn):
        self.session, self.conn = session, conn
        self.ready = False
        self.retiring: dict[str, Observed | None] = {}  # attempt id -> the live one it replaces

    @property
    def tls(self) -> bool:
        return self.conn.proxy.tls_cert is not None

    def tls_pems(self) -> tuple[str, str]:
        """The certificate's and the key's PEM blocks ("" without TLS)."""
        settings = self.conn.proxy
        if settings.tls_cert and settings.tls_key:
            return (
                pem_blocks(settings.tls_cert, "CERTIFICATE", self.conn.name),
                pem_blocks(settings.tls_key, "PRIVATE KEY", self.conn.name),
            )
        return "", ""

    def upkeep(self, prepare_stdout: str) -> tuple[str, ...]:
        """What the proxy needs (the prepare step printed its state), before any change."""
        cert = self.tls_pems()[0]
        return pxc.upkeep(self.conn.proxy, cert or None, pxc.parse_state(prepare_stdout))

    def ensure(self) -> None:
        """The network and the proxy, once per run and host."""
        if self.ready:
            return
        settings = self.conn.proxy
        cert, key = self.tls_pems()
        res = self.session.run(
            pxc.ensure_script(settings, self.conn.state_dir, cert_len=len(cert)),
            stdin=cert + key,
            timeout=px.LOCK_WAIT_SECONDS + 300,  # the proxy's lock, then its own steps
        )
        if not res.ok:
            raise RemoteError(
                f"{self.conn.name}: could not start the proxy ({settings.image}): "
                + (res.stderr.strip() or f"exit {res.exited}")[-400:]
            )
        self.ready = True

    def replace(
        self,
        spec: ContainerSpec,
        current: Observed | None,
        deployed_at: str,
        deployed_by: str,
        attempt: Attempt,
    ) -> Started:
        self.ensure()
        live = current.id if current else None
        script = cmd.start_next_script(
            spec,
            deployed_at,
            deployed_by,
            attempt=attempt.id,
            guard=ct.guard_lines(attempt, spec, live),
        )
        res = self.session.run(script, stdin=cmd.secrets_stdin(spec), timeout=120)
        self.retiring[attempt.id] = current
        return ct.started(self.session, res)

    def gate(
        self,
        spec: ContainerSpec,
        started: Started,
        attempt: Attempt,
        watcher: ct.Watcher | None = None,
    ) -> GateResult:
        assert started.id is not None
        result = ct.gate(
            self.session, spec, started.id, ct.decide(attempt), started.address, watcher
        )
        if not result.ok:
            return result
        return self.switch(spec, started.id, self.retiring.get(attempt.id), result.detail)

    def switch(
        self,
        spec: ContainerSpec,
        new_id: str,
        old: Observed | None,
        detail: str,
        route: ProxySpec | None = None,
    ) -> GateResult:
        """Route to `new_id`, drain and retire `old`. Should the controller stop waiting
        (its timeout), the restore that follows cancels the switch on the host."""
        assert spec.proxy is not None
        old_route = recorded_route(old) if old else None
        script = px.switch_script(
            spec,
            new_id,
            old.id if old else None,
            tls=self.tls,
            state_dir=self.conn.state_dir,
            route=route,
            old_port=old_route.port if old_route else None,
        )
        # two lock waits, the reload (its grace: this app's drain, or another app's longer
        # one: a controller that stops waiting is safe, see above), the drain, the stop
        waits = 2 * px.LOCK_WAIT_SECONDS + px.RELOAD_SLACK_SECONDS + 2 * spec.proxy.drain
        res = self.session.run(script, timeout=waits + spec.stop_timeout + SWITCH_SLACK_SECONDS)
        if px.MARK_SWITCHED not in res.stdout:
            return GateResult(
                False, "proxy switch failed: " + (res.stderr.strip() or f"exit {res.exited}")[-400:]
            )
        drained = next(
            (ln for ln in res.stdout.splitlines() if ln.startswith("drained ")), "nothing to drain"
        )
        note = f"; {res.stderr.strip()}" if res.stderr.strip() else ""
        return GateResult(True, f"{detail}; routed by the proxy, old one {drained}{note}")

    def restore(
        self,
        spec: ContainerSpec,
        attempt: Attempt,
        failed_id: str | None,
        previous: Observed | None,
    ) -> Restored:
        back = px.route_back_lines(
            spec,
            failed_id,
            previous.id if previous else None,
            tls=self.tls,
            state_dir=self.conn.state_dir,
            previous_route=recorded_route(previous) if previous else None,
        )
        return ct.restore(
            self.session,
            spec,
            attempt,
            failed_id,
            previous,
            before=back,
            back="it never took traffic; the proxy kept serving",
            timeout=px.LOCK_WAIT_SECONDS + 300,  # the route-back waits for the proxy's lock
        )

    def swap(
        self, spec: ContainerSpec, live: Observed | None, target: Observed, attempt: Attempt
    ) -> GateResult:
        """Rollback: start the retained `target` next to the live one, gate it, switch."""
        route = recorded_route(target)
        if route is None:
            return GateResult(
                False,
                f"the retained version {target.image} was deployed without the proxy (it is not "
                "on the proxy's network): deploy it with the playbook instead; "
                + (f"{live.image} kept serving" if live else "nothing changed"),
            )
        self.ensure()
        guard = ct.guard_lines(attempt, spec, live.id if live else None)
        res = self.session.run(cmd.start_retained_script(target.id, guard))
        if not res.ok:
            return GateResult(False, res.stderr.strip()[-400:] or f"exit {res.exited}")
        result = ct.gate(
            self.session, spec, target.id, ct.decide(attempt), cmd.parse_addr(res.stdout)
        )
        if result.ok:
            result = self.switch(spec, target.id, live, result.detail, route=route)
            if result.ok:
                return result
        self.session.run(cmd.stop_script(target.id, spec.stop_timeout))
        kept = f"{live.image} kept serving" if live else "nothing was serving"
        return GateResult(False, f"{result.detail}; {kept}")
