"""The playbook's health probes, run from the host's side through the SSH session's tunnels.

No remote command: each probe is a direct-tcpip channel to the address the host
would use (the published port on 127.0.0.1, else the container's own IP), so
ports closed by a firewall to the outside still answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from deployer.docker.facts import probe_target
from deployer.health.facts import HostFacts
from deployer.health.model import ProbeResult
from deployer.model import ContainerSpec
from deployer.targets import Prober

PROBE_TIMEOUT = 5.0


def _error_text(err: BaseException) -> str:
    text = str(err)
    if "refused" in text.lower() or isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return text.split(": ", 1)[-1] or type(err).__name__


def probe(session: Prober, spec: ContainerSpec, address: str, port: int) -> ProbeResult:
    """One probe of the spec's health check at address:port."""
    h = spec.health
    timeout = min(PROBE_TIMEOUT, h.timeout)
    if h.kind == "http":
        target = f"{address}:{port}{h.path}"
        try:
            status, took = session.probe_http(address, port, h.path, timeout=timeout)
        except OSError as err:
            return ProbeResult(
                "http", target, False, f"HTTP {h.path} on port {port}: {_error_text(err)}"
            )
        ok = status == h.status
        detail = f"HTTP {status} on {h.path}" + ("" if ok else f" (wants {h.status})")
        return ProbeResult(
            "http", target, ok, f"{detail} in {took * 1000:.0f} ms", status, took * 1000
        )
    target = f"{address}:{port}"
    try:
        took = session.probe_tcp(address, port, timeout=timeout)
    except OSError as err:
        return ProbeResult("tcp", target, False, f"TCP port {port} closed ({_error_text(err)})")
    return ProbeResult(
        "tcp", target, True, f"TCP port {port} open in {took * 1000:.0f} ms", None, took * 1000
    )


def run_probes(
    session: Prober, specs: Sequence[ContainerSpec], facts: HostFacts
) -> dict[str, ProbeResult]:
    """Probe each declared container that runs and has an http/tcp check; name -> result."""
    out: dict[str, ProbeResult] = {}
    for spec in specs:
        if spec.health.kind not in ("http", "tcp") or spec.health.port is None:
            continue
        live = facts.live(spec.name)
        if live is not None:
            if not live.running:
                continue
            address, port = probe_target(spec, live.ports, live.ip)
        else:
            other = facts.other(spec.name)
            if other is None or other.state != "running":
                continue
            address, port = probe_target(spec, None, "")
            if not address:
                continue
        out[spec.name] = probe(session, spec, address, port)
    return out
