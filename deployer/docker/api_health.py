"""The Engine API's answers written as the health script's docker sections
(docker/health_script.py `docker_sections`), so that one parser (health/facts.py) reads
both paths. Pure: targets/api_health.py asks, this writes the lines the CLI would print.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from deployer.docker.api_facts import image_fields, inspect_fields
from deployer.docker.facts import MARK_CONTAINERS
from deployer.docker.health_script import MARK
from deployer.docker.labels import LABEL_MANAGED
from deployer.docker.proxy import PROXY_NAME


def section(name: str, lines: Iterable[str]) -> str:
    return "".join(f"{line}\n" for line in [MARK.format(name), *lines])


def error(text: str) -> str:
    """A failed section's one line (its text on one line, as `tail -n 1` leaves it)."""
    return "!error: " + (" ".join(str(text).split()) or "no error text")[-300:]


def engine_line(info: dict[str, Any]) -> str:
    """ENGINE_FORMAT's line: `version|data root`."""
    return f"{info.get('ServerVersion') or ''}|{info.get('DockerRootDir') or ''}"


def died(events: Iterable[dict[str, Any]]) -> list[str]:
    """`--format '{{.Actor.ID}}'` of each event."""
    return [str((e.get("Actor") or {}).get("ID") or e.get("id") or "") for e in events]


def _join(ip: str, port: str) -> str:
    """Go's net.JoinHostPort: an IPv6 address in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _group(key: tuple[str, str], first: int, last: int) -> str:
    ip, kind = key
    span = str(first) if first == last else f"{first}-{last}"
    return f"{_join(ip, span)}->{span}/{kind}" if ip else f"{span}/{kind}"


def ports_text(ports: Sequence[dict[str, Any]] | None) -> str:
    """`.Ports` as `docker ps` shows it (the CLI's DisplayablePorts): the ports sorted by
    container port, address, host port, protocol; runs of consecutive ports published on
    the same numbers (or not published) grouped ("8000-8002/tcp"), in the order their
    groups began, a group cut short where a run breaks; then every port published on
    another number ("0.0.0.0:8080->80/tcp, [::]:8080->80/tcp")."""
    rows = sorted(
        ports or (),
        key=lambda p: (
            int(p.get("PrivatePort") or 0),
            str(p.get("IP") or ""),
            int(p.get("PublicPort") or 0),
            str(p.get("Type") or ""),
        ),
    )
    groups: dict[tuple[str, str], list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for p in rows:
        port, kind, ip = int(p.get("PrivatePort") or 0), str(p.get("Type") or ""), ""
        if p.get("IP"):
            ip = str(p["IP"])
            public = int(p.get("PublicPort") or 0)
            if public != port:
                mappings.append(f"{_join(ip, str(public))}->{port}/{kind}")
                continue
        key = (ip, kind)
        group = groups.get(key)
        if group is None:
            groups[key] = [port, port]
        elif port == group[1] + 1:
            group[1] = port
        else:
            result.append(_group(key, group[0], group[1]))
            groups[key] = [port, port]
    result += [_group(key, g[0], g[1]) for key, g in groups.items()]
    return ", ".join(result + mappings)


def ps_line(c: dict[str, Any]) -> str:
    """PS_FORMAT's line for one entry of GET /containers/json (compact JSON, as Go's)."""
    labels = c.get("Labels") or {}
    names = ",".join(n.lstrip("/") for n in c.get("Names") or ())
    row = {
        "id": c.get("Id") or "",
        "name": names,
        "image": c.get("Image") or "",
        "state": c.get("State") or "",
        "ports": ports_text(c.get("Ports")),
        "managed": labels.get(LABEL_MANAGED) or "",
    }
    return json.dumps(row, separators=(",", ":"))


def managed_ids(listed: Sequence[dict[str, Any]]) -> list[str]:
    return [str(c["Id"]) for c in listed if (c.get("Labels") or {}).get(LABEL_MANAGED) == "true"]


def has_proxy(listed: Sequence[dict[str, Any]]) -> bool:
    """A container whose names are exactly the proxy's (the CLI's script matches the
    whole names field)."""
    return any(list(c.get("Names") or ()) == [f"/{PROXY_NAME}"] for c in listed)


def proxy_line(inspect: dict[str, Any] | None) -> str:
    """`{{.State.Running}} {{.Config.Image}}`, or `none`."""
    if inspect is None:
        return "none"
    running = "true" if (inspect.get("State") or {}).get("Running") else "false"
    return f"{running} {(inspect.get('Config') or {}).get('Image') or ''}"


def docker_text(
    *,
    info: dict[str, Any] | str,
    events: list[dict[str, Any]] | str,
    listed: list[dict[str, Any]] | str,
    inspects: Sequence[dict[str, Any]],
    images: Sequence[dict[str, Any]],
    proxy: dict[str, Any] | None,
) -> str:
    """Every docker section but df; a str in place of an answer is that request's error."""
    out = section("engine", [error(info) if isinstance(info, str) else engine_line(info)])
    out += section(
        "events", [error("docker events failed")] if isinstance(events, str) else died(events)
    )
    if isinstance(listed, str):
        out += section("ps", [error("docker ps failed")])
        out += section("managed", [MARK_CONTAINERS, error("docker ps failed")])
    else:
        out += section("ps", [ps_line(c) for c in listed])
        lines = [json.dumps(inspect_fields(d), separators=(",", ":")) for d in inspects]
        out += section("managed", [MARK_CONTAINERS, *lines])
    out += section("images", [json.dumps(image_fields(d), separators=(",", ":")) for d in images])
    out += section("proxy", [proxy_line(proxy)])
    return out
