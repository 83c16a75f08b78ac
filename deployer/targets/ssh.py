"""The SSH engine: one host's Docker over one SSH session (remote/ssh.py), every remote
script built in docker/. The only target that knows shells; paramiko stays in remote/.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from deployer.docker import access, locking
from deployer.docker import commands as cmd
from deployer.docker import engine_route as er
from deployer.docker import health_script as hs
from deployer.docker import networks as nets
from deployer.docker import proxy as px
from deployer.docker import proxy_container as pxc
from deployer.docker.daytwo import operate_script
from deployer.docker.facts import parse_facts
from deployer.docker.lifecycle import EXIT_AUDIT, EXIT_ROUTE, remove_script
from deployer.errors import DeployerError
from deployer.model import ContainerSpec, HostConn, NetworkSpec, Observed, RegistryAuth
from deployer.remote.ssh import Result, Session
from deployer.remote.streamlocal import StreamLocalRefused
from deployer.targets import (
    Attempt,
    GateResult,
    HealthRaw,
    LockRequest,
    Prepared,
    Removed,
    Restored,
    Started,
)
from deployer.targets import container as ct
from deployer.targets.proxied import Proxied, recorded_route

PREPARE_TIMEOUT = 600.0  # login + pulls; a lock wait adds to it
# the API path's first command: the lock (its wait adds), which also waits out a pending
# host guard (up to its deadline + 30 s, beyond a minute), and the shell lines: the CLI
# script's bound, which it replaces
FIRST_TIMEOUT = PREPARE_TIMEOUT


@functools.cache
def _warm_api() -> None:
    """Import the Docker SDK (~0.3 s of CPU) in the background, once per process, while
    the hosts' handshakes run: the first host on the API path finds it imported, or waits
    on the import lock for the rest of it, not for all of it. (Two first calls at once may
    start two threads: the import lock makes the second a no-op.)"""

    def load() -> None:
        import deployer.targets.api_health  # noqa: F401, PLC0415
        import deployer.targets.api_prepare  # noqa: F401, PLC0415

    threading.Thread(target=load, name="warm-docker-sdk", daemon=True).start()


@dataclass(frozen=True)
class _Want:
    """What a prepare step asks of the host's engine, whichever way it goes."""

    images: Sequence[str]
    registry: RegistryAuth | None
    pull: bool
    specs: Sequence[ContainerSpec]
    nonce: str
    pull_missing: Sequence[str]


class SshEngine:
    """An `Engine` over one SSH connection, opened on first use and kept for the run."""

    def __init__(
        self, conn: HostConn, *, accept_new_host_keys: bool = False, session: Session | None = None
    ):
        self.conn = conn
        self.session = session or Session(conn, accept_new_host_keys=accept_new_host_keys)
        self.proxied = Proxied(self.session, conn)
        self.leaving: set[str] = set()  # attempts of containers leaving proxy mode
        self.networks: list[NetworkSpec] = []  # the play's networks the host lacks
        self.proxy_upkeep: tuple[str, ...] = ()  # what the proxy needs
        self.route: er.Route | None = None  # how the prepare step reached the engine
        self.api_channels = 0
        self.api_version: str | None = None  # agreed by the prepare step, for the gate's

    @property
    def commands(self) -> int:
        return self.session.commands

    @property
    def connections(self) -> int:
        return self.session.connections

    @property
    def engine_path(self) -> str:
        """How the prepare step reached the engine: `api`, or `cli (why)` ("" before it)."""
        return self.route.shown if self.route is not None else ""

    @property
    def channels(self) -> int:
        """Stream-local channels to the engine's socket (not commands: nothing ran)."""
        return self.api_channels

    def prepare(
        self,
        images: Sequence[str],
        registry: RegistryAuth | None,
        *,
        lock: LockRequest | None,
        pull: bool,
        specs: Sequence[ContainerSpec],
        nonce: str,
        networks: Sequence[NetworkSpec] = (),
    ) -> Prepared:
        proxied = any(s.proxy for s in specs)
        # the proxy's image, pulled when the host does not have it yet
        pull_missing = [self.conn.proxy.image] if proxied else []
        shell = ""  # what stays shell: the proxy's state, the play's networks on the host
        if proxied:  # an upgrade or a new certificate is work too
            shell += "\n".join(pxc.state_lines(self.conn.state_dir)) + "\n"
        if networks:
            shell += "\n".join(nets.list_lines(networks)) + "\n"
        wait = (lock.wait + locking.YIELD_SECONDS) if lock else 0
        want = _Want(images, registry, pull, specs, nonce, pull_missing)
        self.route = self._route_before_connecting()
        if self.route is not None:  # the CLI by choice: today's one command
            res = self._cli(want, lock, shell, wait)
            return self._prepared(res, networks, proxied)
        first = self.session.run(
            er.first_script(
                self.conn.state_dir,
                lock.info if lock else None,
                lock.prio if lock else "",
                lock.wait if lock else 0,
            )
            + shell,
            timeout=FIRST_TIMEOUT + wait,
        )
        failed = self._failed(first)
        if failed is not None:
            return failed
        self.route = er.decide(er.parse_probe(first.stdout), self.conn.user)
        if self.route.api:
            done = self._over_api(self.route.socket, want)
            if done is not None:
                if done.status != "ok":
                    return done
                return self._prepared(first, networks, proxied, done)
        # the CLI after all: the lock is ours already, the shell lines printed
        res = self._cli(want, None, "", 0)
        failed = self._failed(res)
        if failed is not None:
            return failed
        combined = Result(res.host, res.command, 0, first.stdout + res.stdout, res.stderr, res.took)
        return self._prepared(combined, networks, proxied)

    def _route_before_connecting(self) -> er.Route | None:
        """The CLI when the inventory or the login decides it; None: the host is asked, and
        the API path is likely, so its SDK is imported while the host connects."""
        route = er.before_connecting(self.conn)
        if route is None:
            _warm_api()
        return route

    def _over_api(self, path: str, want: _Want) -> Prepared | None:
        """The prepare's docker work over the Engine API; None (self.route says why) when
        the server refused the first channel to the socket: nothing reached the engine."""
        # here, not at the top: `import docker` costs ~0.3 s of CPU, paid only by a run that
        # takes the API path (config/dockersdk.py keeps it out of every other command)
        from deployer.remote.engine_api import socket_client  # noqa: PLC0415
        from deployer.targets.api_prepare import ApiPrepare  # noqa: PLC0415

        api, adapter = socket_client(self.session, path, timeout=PREPARE_TIMEOUT)
        prepare = ApiPrepare(api)
        try:
            return prepare.run(
                want.images,
                want.registry,
                pull=want.pull,
                specs=want.specs,
                nonce=want.nonce,
                pull_missing=want.pull_missing,
            )
        except StreamLocalRefused as refused:
            if adapter.channels:  # refused later, after requests went through: an error
                return Prepared("error", message=str(refused))
            self.route = er.Route(False, reason=refused.reason)
            return None
        finally:
            self.api_version = prepare.version
            self.api_channels += adapter.channels
            api.close()

    def _watcher(self) -> ct.Watcher | None:
        """The health gate's watch over the Engine API where the prepare step took it: the
        container's events, no `docker wait` process (None: the shell watcher)."""
        route = self.route
        if route is None or not route.api:
            return None
        from deployer.targets.api_gate import watch  # noqa: PLC0415 - the SDK, see prepare

        return lambda container_id: watch(
            self.session, route.socket, container_id, self._count, self.api_version
        )

    def _count(self, channels: int) -> None:
        """Channels the API's clients opened (told by each one when it closes)."""
        self.api_channels += channels

    def _cli(self, want: _Want, lock: LockRequest | None, shell: str, wait: float) -> Result:
        """The CLI's prepare script (docker/commands.py), and `shell` after it: one command."""
        registry = want.registry
        stdin = (
            registry.password.reveal() + "\n"
            if (registry and registry.password and want.pull)
            else ""
        )
        script = cmd.prepare_script(
            want.images,
            registry,
            state_dir=self.conn.state_dir,
            lock_info=lock.info if lock else None,
            lock_prio=lock.prio if lock else "",
            lock_wait=lock.wait if lock else 0,
            pull=want.pull,
            secrets_of=want.specs,
            nonce=want.nonce,
            pull_missing=want.pull_missing,
        )
        return self.session.run(script + shell, stdin=stdin, timeout=PREPARE_TIMEOUT + wait)

    def _failed(self, res: Result) -> Prepared | None:
        """What a prepare command's exit status means, None when it succeeded."""
        if res.exited == cmd.EXIT_LOCKED:
            return Prepared("locked", message=res.stdout.strip())
        if res.exited == cmd.EXIT_LOGIN:
            return Prepared("login", message=res.stderr.strip()[-400:])
        if res.exited == cmd.EXIT_PULL:
            return Prepared("pull", message=" ".join(res.stderr.split())[-400:])
        if not res.ok:
            denied = access.explain(
                res.stderr, self.conn.state_dir, self.conn.user, self.conn.become is not None
            )
            if denied is not None:  # the login user may not: what to set, in a sentence
                return Prepared("denied", message=denied)
            return Prepared("error", message=res.stderr.strip()[-400:])
        return None

    def _prepared(
        self,
        res: Result,
        networks: Sequence[NetworkSpec],
        proxied: bool,
        over_api: Prepared | None = None,
    ) -> Prepared:
        """Prepared from the shell's output (its facts, unless the API read them), the
        play's networks and the proxy's state."""
        failed = self._failed(res)
        if failed is not None:
            return failed
        present = nets.parse_present(res.stdout)
        if clash := nets.clashes(networks, present):
            return Prepared("conflict", message="; ".join(clash))
        self.networks = nets.missing(networks, present)
        self.proxy_upkeep = self.proxied.upkeep(res.stdout) if proxied else ()
        upkeep = nets.upkeep(self.networks) + self.proxy_upkeep
        facts = over_api.facts if over_api is not None else parse_facts(res.stdout)
        return Prepared("ok", facts, upkeep=upkeep)

    def upkeep(self) -> str | None:
        """Create the missing networks, bring the proxy up to date (Prepared.upkeep said
        what): None, or what failed."""
        if self.networks:
            res = self.session.run(nets.create_script(self.networks))
            if not res.ok:
                return res.stderr.strip()[-400:] or f"exit {res.exited}"
        if self.proxy_upkeep:
            self.proxied.ready = False
            try:
                self.proxied.ensure()
            except DeployerError as err:
                return str(err)
        return None

    def replace(
        self,
        spec: ContainerSpec,
        current: Observed | None,
        deployed_at: str,
        deployed_by: str,
        attempt: Attempt,
    ) -> Started:
        if spec.proxy is not None:
            return self.proxied.replace(spec, current, deployed_at, deployed_by, attempt)
        if current is not None and "proxy" in current.spec:  # it leaves proxy mode:
            self.leaving.add(attempt.id)  # its route goes once the new one passed its gate
        return ct.replace(self.session, spec, current, deployed_at, deployed_by, attempt)

    def gate(self, spec: ContainerSpec, started: Started, attempt: Attempt) -> GateResult:
        assert started.id is not None
        if spec.proxy is not None:
            return self.proxied.gate(spec, started, attempt, self._watcher())
        result = ct.gate(
            self.session, spec, started.id, ct.decide(attempt), started.address, self._watcher()
        )
        if result.ok and attempt.id in self.leaving:
            dropped = self.session.run(
                px.drop_route_script(spec.name, tls=self.proxied.tls, state_dir=self.conn.state_dir)
            )
            if not dropped.ok:  # the new one serves on its port; the proxy still routes too
                why = dropped.stderr.strip()[-300:] or f"exit {dropped.exited}"
                return GateResult(True, f"{result.detail}; its old proxy route stays: {why}")
        return result

    def restore(
        self,
        spec: ContainerSpec,
        attempt: Attempt,
        failed_id: str | None,
        previous: Observed | None,
    ) -> Restored:
        if spec.proxy is not None:
            return self.proxied.restore(spec, attempt, failed_id, previous)
        return ct.restore(self.session, spec, attempt, failed_id, previous)

    def swap(
        self, spec: ContainerSpec, live: Observed | None, target: Observed, attempt: Attempt
    ) -> GateResult:
        if spec.proxy is not None:
            return self.proxied.swap(spec, live, target, attempt)
        if recorded_route(target) is not None:
            return GateResult(
                False,
                f"the retained version {target.image} ran behind the proxy (it publishes no "
                "port of its own): deploy it with the playbook instead; "
                + (f"{live.image} kept serving" if live else "nothing changed"),
            )
        return ct.swap(self.session, spec, live, target, attempt)

    def operate(self, op: str, spec: ContainerSpec, live: Observed) -> GateResult:
        res = self.session.run(
            operate_script(op, live.id, spec.stop_timeout), timeout=spec.stop_timeout + 120
        )
        if not res.ok:
            return GateResult(False, f"{op} failed: {res.stderr.strip()[-300:] or res.exited}")
        if op == "stop":
            return GateResult(True, "stopped")
        return ct.gate(self.session, spec, live.id, "", cmd.parse_addr(res.stdout))

    def finalize(
        self, prune: Sequence[str], audit: Sequence[str], unlock_token: str | None
    ) -> str | None:
        res = self.session.run(cmd.finalize_script(self.conn.state_dir, prune, audit, unlock_token))
        return None if res.ok else (res.stderr.strip() or f"exit {res.exited}")

    def remove(
        self, spec: ContainerSpec, containers: Sequence[Observed], audit: Sequence[str]
    ) -> Removed:
        live = next((c for c in containers if c.is_live), None)
        proxied = any("proxy" in c.spec for c in containers)
        script = remove_script(
            spec.name,
            [c.id for c in containers],
            live_id=live.id if live else None,
            stop_timeout=spec.stop_timeout,
            audit_lines=audit,
            state_dir=self.conn.state_dir,
            proxied=proxied,
            tls=self.proxied.tls,
        )
        # the proxy's lock and a reload (at most the longest drain, 1h) bound a proxied one
        waits = px.LOCK_WAIT_SECONDS + px.RELOAD_SLACK_SECONDS + 3600 if proxied else 0
        res = self.session.run(script, timeout=spec.stop_timeout + 120 + waits)
        if res.ok:
            return Removed(True, f"removed {len(containers)} container(s)", True)
        why = " ".join(res.stderr.split())[-400:] or f"exit {res.exited}"
        return Removed(False, why, res.exited not in (EXIT_ROUTE, EXIT_AUDIT))

    def heartbeat(self, token: str) -> None:
        """Never connects: a host whose connection the rollout closed is done and unlocked
        (a queued beat reconnected it, an adversarial review found)."""
        self.session.run(
            locking.heartbeat_script(self.conn.state_dir, token),
            timeout=10,
            counted=False,
            reopen=False,
        )

    # -- what a health report needs --------------------------------------------------------
    def health_facts(self, timeout: float) -> HealthRaw:
        """The health command (its channel's opening is the round trip measured): all in one
        (the CLI's script) when the inventory or the login chooses the CLI; else the host's
        own sections and the engine's address, then the docker sections over the Engine
        API (the CLI's after all when the host says it cannot be used)."""
        self.route = self._route_before_connecting()
        self.session.open()
        started = time.monotonic()
        before = time.time()
        if self.route is not None:
            chan = self.session.start(hs.script(self.conn.state_dir))
            latency = self.session.last_open_s
            out, err, _code = self.session.collect(chan, timeout, started)
            return HealthRaw(out, err, latency, before, time.time())
        chan = self.session.start(hs.host_script(self.conn.state_dir, er.probe_lines()))
        latency = self.session.last_open_s
        out, err, _code = self.session.collect(chan, timeout, started)
        after = time.time()
        self.route = er.decide(er.parse_probe(out), self.conn.user)
        docker_out = None
        if self.route.api:
            # the restart events up to the host's clock when the script started (a moment
            # ahead of the engine's clock would hold the answer open until then)
            clock = hs.clock_of(out)
            now = clock if clock is not None else before
            from deployer.targets.api_health import docker_sections  # noqa: PLC0415 - the SDK

            try:
                docker_out = docker_sections(
                    self.session, self.route.socket, now, timeout, started, self._count
                )
            except StreamLocalRefused as refused:  # nothing reached the engine
                self.route = er.Route(False, reason=refused.reason)
        if docker_out is None:  # the CLI's sections, a second command
            chan = self.session.start(hs.docker_script())
            docker_out, more, _code = self.session.collect(chan, timeout, started)
            err += more
        return HealthRaw(out + docker_out, err, latency, before, after)

    def probe_tcp(self, address: str, port: int, timeout: float = 3.0) -> float:
        return self.session.probe_tcp(address, port, timeout)

    def probe_http(
        self, address: str, port: int, path: str, timeout: float = 3.0
    ) -> tuple[int, float]:
        return self.session.probe_http(address, port, path, timeout)

    def close(self) -> None:
        self.session.close()
