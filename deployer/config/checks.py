"""Checks across containers and plays: two containers binding one host port on a host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.config.schema import Ctx, Path
from deployer.model import PortSpec


@dataclass(frozen=True)
class Binding:
    container: str
    port: PortSpec
    parent: Any  # the container mapping, for the position of its `ports`
    path: Path


def _clash(a: PortSpec, b: PortSpec) -> bool:
    if a.host_port is None or a.host_port != b.host_port or a.protocol != b.protocol:
        return False
    wild = ("", "0.0.0.0", "::")
    return a.host_ip == b.host_ip or a.host_ip in wild or b.host_ip in wild


def check_ports(ctx: Ctx, bindings: dict[str, list[Binding]]) -> None:
    """One host port per host: a container of another name may not bind it too.

    The same name in a later play replaces the container, so it may reuse the port.
    """
    for host, items in bindings.items():
        for i, mine in enumerate(items):
            for other in items[:i]:
                if other.container != mine.container and _clash(mine.port, other.port):
                    line = ctx.doc.pos(other.parent, "ports").line
                    ctx.error(
                        mine.parent,
                        "ports",
                        (*mine.path, "ports"),
                        f"host port {mine.port.host_port}/{mine.port.protocol} is bound by both "
                        f"{other.container!r} (line {line}) and {mine.container!r}",
                        host=host,
                    )
                    break
