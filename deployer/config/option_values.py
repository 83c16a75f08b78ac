"""docker run's own grammar for the container options (config/options.py reads the YAML).

Each parser takes a rendered YAML value and returns docker's text in canonical form (what
the spec hash covers and `docker run` gets), or raises `ValueError` with a message meant
for the user. The rules are docker's (go-units, opts/, the daemon's checks), so a value
that passes here is one `docker run` accepts.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from decimal import Decimal, InvalidOperation

from deployer.config.schema import shown, type_name

MIB = 1024 * 1024
MIN_MEMORY = 6 * MIB  # the daemon refuses less (memory and memory_reservation)
MAX_BYTES = 2**63 - 1
_SIZE = re.compile(r"(?i)^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$")  # go-units' RAMInBytes
_BINARY = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024**4, "p": 1024**5}
_DECIMAL = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_NAME_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?"
_USER = re.compile(rf"^{_NAME_PART}(:{_NAME_PART})?$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_HOST_ALIAS = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
CAPABILITIES = frozenset(
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE".split()
)  # capabilities(7), Linux 5.9 and later: what docker's --cap-add knows
ULIMITS = (
    "core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
    "sigpending stack".split()
)  # go-units' ulimit names
_TMPFS_FLAGS = frozenset(
    "defaults ro rw suid nosuid dev nodev exec noexec sync async dirsync mand nomand atime "
    "noatime diratime nodiratime relatime norelatime strictatime nostrictatime tmpcopyup "
    "notmpcopyup".split()
)
_TMPFS_DATA = {  # moby's ParseTmpfsOptions: the keys a tmpfs takes, with their values
    "size": re.compile(r"^\d+[kmgKMG%]?$"),
    "mode": re.compile(r"^[0-7]{3,4}$"),
    "uid": re.compile(r"^\d+$"),
    "gid": re.compile(r"^\d+$"),
    "nr_inodes": re.compile(r"^\d+[kmgKMG%]?$"),
    "nr_blocks": re.compile(r"^\d+[kmgKMG%]?$"),
    "mpol": re.compile(r"^[a-z]+(:[0-9,-]+)?$"),
}
_GPU_KEYS = ("count", "device", "driver", "capabilities", "options")


def _scalar(value: object, what: str) -> str:
    """A string or a whole number, as text; anything else (a list, a bool, null) refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{what} must be a string, not {type_name(value)}")
    text = str(value).strip()
    if not text or not text.isprintable():
        raise ValueError(f"{what} must not be empty or contain line breaks or control characters")
    return text


def size_text(n: int) -> str:
    """Bytes as docker's shortest exact binary unit: 536870912 -> '512m', 1000 -> '1000'."""
    for unit in ("g", "m", "k"):
        if n % _BINARY[unit] == 0:
            return f"{n // _BINARY[unit]}{unit}"
    return str(n)


def _bytes(value: object, what: str, units: dict[str, int]) -> int:
    text = _scalar(value, what)
    m = _SIZE.match(text)
    if not m:
        raise ValueError(
            f"{what} must be a size like 512m, 1g or 1.5GiB, or a number of bytes; "
            f"got {shown(value)}"
        )
    n = int(Decimal(m.group(1)) * units[(m.group(2) or "").lower()])
    if n > MAX_BYTES:
        raise ValueError(f"{what} {shown(value)} is too large")
    return n


def byte_size(value: object, what: str, minimum: int = 1) -> str:
    """docker's size grammar (binary units: 1k = 1024); canonical text ('1.5g' -> '1536m')."""
    n = _bytes(value, what, _BINARY)
    if n < minimum:
        raise ValueError(f"{what} must be at least {size_text(minimum)}, got {shown(value)}")
    return size_text(n)


def size_bytes(text: str) -> int:
    """A canonical size (byte_size's output) back to bytes."""
    return _bytes(text, "size", _BINARY)


def cpus(value: object) -> str:
    """--cpus: a positive decimal of at most 9 places (docker keeps nano-CPUs), at least 0.01."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"cpus must be a number like 1.5, not {type_name(value)}")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"cpus must be a number like 0.5 or 2, got {shown(value)}") from None
    if not d.is_finite() or d < Decimal("0.01") or d > 100_000:
        raise ValueError(f"cpus must be from 0.01 to the host's CPU count, got {shown(value)}")
    if (d * 10**9) % 1:
        raise ValueError(f"cpus {shown(value)} is too precise (at most 9 decimal places)")
    return format(d.normalize(), "f")


def user(value: object) -> str:
    """--user: name|uid[:group|gid]."""
    text = _scalar(value, "user")
    if not _USER.match(text):
        raise ValueError(
            f"user must be NAME or UID, optionally :GROUP or :GID (like app, 1000 or "
            f"1000:1000; quote it in YAML), got {shown(value)}"
        )
    if any(part.isdigit() and int(part) > 2**32 - 2 for part in text.split(":")):
        raise ValueError(f"user {shown(value)}: an id must be at most {2**32 - 2}")
    return text


def abs_path(value: object, what: str) -> str:
    text = _scalar(value, what)
    if not text.startswith("/"):
        raise ValueError(f"{what} must be an absolute path (starting with /), got {shown(value)}")
    return text


def hostname(value: object) -> str:
    text = _scalar(value, "hostname")
    if len(text) > 64 or not _HOSTNAME.match(text):
        raise ValueError(
            f"hostname must be a host name (letters, digits, '-', dots between labels; at "
            f"most 64 characters), got {shown(value)}"
        )
    return text


def ip(value: object, what: str) -> str:
    text = _scalar(value, what)
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise ValueError(f"{what} must be an IP address, got {shown(value)}") from None


def extra_host(name: object, address: object) -> str:
    """--add-host NAME:IP (IP may be `host-gateway`: the host's own address)."""
    host = _scalar(name, "an extra host's name")
    if not _HOST_ALIAS.match(host) or len(host) > 253:
        raise ValueError(f"extra host name {shown(name)} is not a host name")
    if str(address).strip() == "host-gateway":
        return f"{host}:host-gateway"
    return f"{host}:{ip(address, f'the address of {host}')}"


def extra_host_item(value: object) -> str:
    """One `host:ip` item of the list form (IPv6 after the first ':', as docker splits it)."""
    text = _scalar(value, "an extra host")
    name, sep, address = text.partition(":")
    if not sep:
        raise ValueError(f"an extra host must be HOST:IP, got {shown(value)}")
    return extra_host(name, address)


def capability(value: object) -> str:
    """A capability name, any case, with or without CAP_; ALL. Docker's canonical form."""
    text = _scalar(value, "a capability").upper()
    if text == "ALL":
        return text
    name = text.removeprefix("CAP_")
    if name not in CAPABILITIES:
        raise ValueError(
            f"unknown capability {shown(value)}: use a Linux capability such as NET_ADMIN, "
            "SYS_PTRACE, CHOWN (capabilities(7)), or ALL"
        )
    return "CAP_" + name


def tmpfs(value: object) -> str:
    """--tmpfs /path[:opt,opt=value,...] with moby's tmpfs options."""
    text = _scalar(value, "a tmpfs")
    path, _, opts = text.partition(":")
    if not path.startswith("/"):
        raise ValueError(f"a tmpfs must be /path[:options], got {shown(value)}")
    for opt in opts.split(",") if opts else []:
        key, eq, val = opt.partition("=")
        rule = _TMPFS_DATA.get(key)
        ok = (rule is not None and bool(eq) and bool(rule.match(val))) or (
            not eq and key in _TMPFS_FLAGS
        )
        if not ok:
            raise ValueError(
                f"tmpfs {shown(value)}: invalid option {opt!r} (size=64m, mode=1777, uid=, "
                "gid=, nr_inodes=, noexec, nosuid, nodev, ro, ...)"
            )
    return text


def ulimit(name: object, soft: object, hard: object) -> str:
    """--ulimit NAME=SOFT:HARD; -1 is unlimited; soft at most hard (go-units' rule)."""
    if name not in ULIMITS:
        raise ValueError(f"unknown ulimit {shown(name)}: use one of {', '.join(ULIMITS)}")
    limits = []
    for value in (soft, hard):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"ulimit {name}: a limit must be a whole number, got {shown(value)}")
        try:
            limits.append(int(str(value).strip()))
        except ValueError:
            raise ValueError(f"ulimit {name}: {shown(value)} is not a whole number") from None
    low, high = limits
    if max(low, high) > MAX_BYTES:
        raise ValueError(f"ulimit {name}: a limit must be at most {MAX_BYTES} (-1: unlimited)")
    if low < -1 or high < -1 or (high != -1 and (low == -1 or low > high)):
        raise ValueError(
            f"ulimit {name}: the soft limit must be at most the hard one (-1: unlimited), "
            f"got {low}:{high}"
        )
    return f"{name}={low}:{high}"


def ulimit_text(name: object, value: object) -> str:
    """A ulimit's value as written: 1024, or "soft:hard"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ulimit(name, value, value)
    text = _scalar(value, f"ulimit {name}")
    soft, sep, hard = text.partition(":")
    if ":" in hard:
        raise ValueError(f"ulimit {name}: use SOFT or SOFT:HARD, got {shown(value)}")
    return ulimit(name, soft, hard if sep else soft)


def device(value: object) -> str:
    """--device /dev/host[:/dev/container[:rwm]] (docker's validateLinuxPath)."""
    text = _scalar(value, "a device")
    parts = text.split(":")
    if len(parts) > 3 or not parts[0].startswith("/"):
        raise ValueError(f"a device must be /dev/HOST[:/dev/CONTAINER[:rwm]], got {shown(value)}")
    if len(parts) == 2 and _mode(parts[1]):
        return text  # /dev/x:rwm: the same path inside
    inner = parts[1] if len(parts) > 1 else parts[0]
    if not inner.startswith("/"):
        raise ValueError(f"device {shown(value)}: {inner!r} is not an absolute path")
    if len(parts) == 3 and not _mode(parts[2]):
        raise ValueError(f"device {shown(value)}: the mode must be r, w, m or a mix (rwm)")
    return text


def _mode(text: str) -> bool:
    return 0 < len(text) <= 3 and set(text) <= set("rwm") and len(set(text)) == len(text)


def gpus(value: object) -> str:
    """--gpus: all, a count, or docker's CSV of count=, device=, driver=, capabilities=."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"gpus must be all, a count of at least 1, or device=..., got {value}")
        return str(value)
    text = _scalar(value, "gpus")
    try:
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        raise ValueError(f"gpus {shown(value)} is not docker's --gpus syntax") from None
    seen: set[str] = set()
    for f in fields:
        _gpu_field(text, f, seen)
    if "count" in seen and "device" in seen:
        raise ValueError(
            f"gpus {shown(value)}: give a count or device ids, not both (several devices: "
            "quote them, '\"device=0,1\"')"
        )
    return text


def _gpu_field(text: str, field: str, seen: set[str]) -> None:
    key, eq, val = field.partition("=")
    key = key.strip() if eq else "count"
    if key in seen:
        raise ValueError(f"gpus {text!r}: {key} is given twice")
    seen.add(key)
    count = val if eq else field
    if key not in _GPU_KEYS:
        raise ValueError(f"gpus {text!r}: unknown key {key!r} (count, device, driver, ...)")
    if key == "count" and not (count.strip() == "all" or count.strip().isdigit()):
        raise ValueError(f"gpus {text!r}: a count must be a number or all")
    if key != "count" and not val.strip():
        hint = " (quote a list: '\"device=0,1\"')" if key == "device" else ""
        raise ValueError(f"gpus {text!r}: {key} needs a value{hint}")


def human_size(value: object, what: str) -> str:
    """A log size (go-units' FromHumanSize: decimal units, 10m = 10,000,000 bytes), > 0."""
    if _bytes(value, what, _DECIMAL) <= 0:
        raise ValueError(f"{what} must be more than 0, got {shown(value)}")
    return str(value).strip()
