"""Small value parsers for playbooks: ports, image references, durations, percentages.

Each raises `ValueError` with a message meant for the user.
"""

from __future__ import annotations

import ipaddress
import re

from deployer.config.dockersdk import parse_repository_tag, split_port
from deployer.model import PortSpec

MAX_PORTS = 10_000  # ports one spec may expand to

# The distribution/reference grammar docker uses for image names.
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_PROTOCOLS = ("tcp", "udp", "sctp")


def parse_image(ref: str) -> str:
    """Check an image reference as `docker pull` would; return it unchanged."""
    if not ref or ref != ref.strip():
        raise ValueError(f"invalid image reference {ref!r}: empty or surrounded by spaces")
    repo, _tag = parse_repository_tag(ref)
    m = _REFERENCE.match(ref)
    if not m:
        lower = _REFERENCE.match(ref.lower())
        if lower and lower.group("path") and any(c.isupper() for c in repo.split("/", 1)[-1]):
            raise ValueError(f"invalid image reference {ref!r}: repository name must be lowercase")
        raise ValueError(
            f"invalid image reference {ref!r}: expected [registry[:port]/]name[:tag][@digest]"
        )
    if len(m.group("path")) + len(m.group("domain") or "") > 255:
        raise ValueError(f"invalid image reference {ref!r}: name longer than 255 characters")
    return ref


def _port_number(text: str, what: str, spec: str, allow_zero: bool = False) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"invalid port spec {spec!r}: {what} {text!r} is not a number") from None
    if not (0 if allow_zero else 1) <= n <= 65535:
        raise ValueError(f"invalid port spec {spec!r}: {what} {n} is out of range 1-65535")
    return n


def parse_ports(spec: object) -> list[PortSpec]:
    """docker `-p` syntax -> one PortSpec per port (ranges expanded)."""
    if isinstance(spec, bool) or not isinstance(spec, str | int):
        raise ValueError(f"a port spec must be a string like '8080:80', not {type(spec).__name__}")
    text = str(spec).strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"invalid port spec {text!r}: empty or contains spaces")
    proto = "tcp"
    if "/" in text:
        proto = text.rsplit("/", 1)[1]
        if proto not in _PROTOCOLS:
            raise ValueError(f"invalid port spec {text!r}: protocol must be tcp, udp or sctp")
    head = text.rsplit("/", 1)[0]
    if head.startswith(":") or head.endswith(":") or not head:
        raise ValueError(f"invalid port spec {text!r}: a port number is missing around ':'")
    try:
        internal, external = split_port(text)
    except ValueError as err:
        raise ValueError(f"invalid port spec {text!r}: {err}") from None
    if not internal:
        raise ValueError(f"invalid port spec {text!r}: the range is empty (start after end?)")
    if len(internal) > MAX_PORTS:
        raise ValueError(f"invalid port spec {text!r}: more than {MAX_PORTS} ports")
    return [
        _one_port(text, proto, c, (external or [None] * len(internal))[i])
        for i, c in enumerate(internal)
    ]


def _one_port(spec: str, proto: str, container: str, external: object) -> PortSpec:
    cport = _port_number(container.split("/")[0], "container port", spec)
    host_ip, host_port = "", None
    if isinstance(external, tuple):
        host_ip = external[0]
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise ValueError(
                f"invalid port spec {spec!r}: {host_ip!r} is not an IP address"
            ) from None
        external = external[1]
    if external is not None:
        host_port = _port_number(str(external), "host port", spec, allow_zero=False)
    return PortSpec(container_port=cport, protocol=proto, host_port=host_port, host_ip=host_ip)  # type: ignore[arg-type]


def parse_duration(value: object) -> float:
    """'30s', '2m', '1m30s', '500ms', '1h' or a number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: use a number of seconds or '30s', '2m'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and _DURATION.sub("", text) == "":
            units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            seconds = sum(float(n) * units[u] for n, u in _DURATION.findall(text))
        else:
            raise ValueError(f"invalid duration {value!r}: use e.g. '30s', '2m', '1m30s', '500ms'")
    if not 0 < seconds <= 7 * 24 * 3600:
        raise ValueError(f"invalid duration {value!r}: must be more than 0 and at most a week")
    return seconds


def parse_percent(value: object, allow_zero: bool = True) -> float:
    """'30%' or 30 -> 30.0, within 0..100."""
    if isinstance(value, bool):
        raise ValueError(f"invalid percentage {value!r}")
    text = str(value).strip()
    number = text[:-1].strip() if text.endswith("%") else text
    try:
        pct = float(number)
    except ValueError:
        raise ValueError(f"invalid percentage {value!r}: use a number like 30 or '30%'") from None
    low = 0.0 if allow_zero else 0.0 + 1e-9
    if not low <= pct <= 100 or pct != pct:
        raise ValueError(f"invalid percentage {value!r}: must be between 0 and 100")
    return pct


def parse_serial_item(value: object) -> int | str:
    """One serial batch size: a positive int or 'N%'."""
    if isinstance(value, bool):
        raise ValueError(
            f"invalid serial {value!r}: use a number of hosts or a percentage like '30%'"
        )
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        n = int(value)
        if n < 1:
            raise ValueError(f"invalid serial {value!r}: must be at least 1")
        return n
    if isinstance(value, str) and value.strip().endswith("%"):
        pct = parse_percent(value, allow_zero=False)
        if pct <= 0:
            raise ValueError(f"invalid serial {value!r}: a percentage must be above 0%")
        return f"{pct:g}%"
    raise ValueError(f"invalid serial {value!r}: use a number of hosts or a percentage like '30%'")
