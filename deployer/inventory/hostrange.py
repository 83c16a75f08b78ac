"""Host addresses and ranges as Ansible reads them: `www[01:50].example.com:2222`, `db-[a:f]`.

`parse_address` follows Ansible's grammar (hostname / IPv4 / IPv6, optional port,
optional `[x:y]` ranges) because host patterns use it to decide whether `:` is a
separator. `expand_range` expands ranges with a cap on the number of names.
"""

from __future__ import annotations

import re
import string

MAX_EXPANSION = 100_000

_NUM_RANGE = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_HEX_RANGE = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_V6 = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_V4 = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_LABEL = rf"(?:[\w]|{_ALNUM_RANGE})(?:[\w_-]|{_ALNUM_RANGE})*(?<![_-])"

_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4 = re.compile(rf"^(?:{_V4}\.){{3}}{_V4}$", re.I)
_IPV6 = re.compile(
    "^(?:"
    + "|".join(
        [
            rf"(?:{_V6}:){{7}}{_V6}",
            rf"(?:{_V6}:){{1,6}}:",
            rf"(?:{_V6}:)(?::{_V6}){{1,6}}",
            rf"(?:{_V6}:){{2}}(?::{_V6}){{1,5}}",
            rf"(?:{_V6}:){{3}}(?::{_V6}){{1,4}}",
            rf"(?:{_V6}:){{4}}(?::{_V6}){{1,3}}",
            rf"(?:{_V6}:){{5}}(?::{_V6}){{1,2}}",
            rf"(?:{_V6}:){{6}}(?::{_V6})",
            rf":(?::{_V6}){{1,6}}",
            rf"{_V6}?::",
            rf"(?:0:){{6}}(?:{_V6}\.){{3}}{_V6}",
            rf"::(?:ffff:)?(?:{_V6}\.){{3}}{_V6}",
            rf"(?:0:){{5}}ffff:(?:{_V6}\.){{3}}{_V6}",
        ]
    )
    + ")$",
    re.I,
)
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I | re.UNICODE)


class AddressError(ValueError):
    pass


def parse_address(address: str, allow_ranges: bool = False) -> tuple[str, int | None]:
    """'host:22' -> ('host', 22); '[::1]:22' -> ('::1', 22). Raises AddressError."""
    port: int | None = None
    for regex in (_BRACKETED_HOSTPORT, _HOSTPORT):
        m = regex.match(address)
        if m:
            address, port = m.group(1), int(m.group(2))
    if not any(regex.match(address) for regex in (_IPV4, _IPV6, _HOSTNAME)):
        raise AddressError(f"not a valid network hostname: {address}")
    if not allow_ranges and "[" in address:
        raise AddressError("ranges are not allowed here")
    return address, port


def expand_hostpattern(pattern: str) -> tuple[list[str], int | None]:
    """An inventory host key -> (host names, port). Raises ValueError with a clear reason."""
    try:
        name, port = parse_address(pattern, allow_ranges=True)
    except AddressError:
        name, port = pattern, None
    if pattern.strip().endswith(":") and port is None:
        raise ValueError(f"host {pattern!r} ends in ':' but gives no port")
    names = expand_range(name) if "[" in name else [name]
    return names, port


def expand_range(line: str) -> list[str]:
    """'db[01:03]-[a:b]' -> ['db01-a', 'db01-b', ...]; ValueError when malformed or too big."""
    out: list[str] = []
    todo = [line]
    while todo:
        name = todo.pop(0)
        if "[" not in name:
            out.append(name)
            if len(out) > MAX_EXPANSION:
                raise ValueError(f"host range expands to more than {MAX_EXPANSION} names")
            continue
        if "]" not in name.split("[", 1)[1]:
            raise ValueError(f"host range in {line!r} has '[' without ']'")
        head, rest = name.split("[", 1)
        body, tail = rest.split("]", 1)
        todo = [head + item + tail for item in _range_items(body, line)] + todo
        if len(todo) > MAX_EXPANSION:
            raise ValueError(f"host range expands to more than {MAX_EXPANSION} names")
    return out


def _range_items(body: str, line: str) -> list[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError(f"host range [{body}] in {line!r} must be begin:end or begin:end:step")
    beg, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise ValueError(f"host range [{body}] in {line!r} has no end")
    width = len(beg) if beg[0] == "0" and len(beg) > 1 else 0
    if width and width != len(end):
        raise ValueError(f"host range [{body}] in {line!r}: begin and end need the same width")
    try:
        step = int(step_text)
    except ValueError:
        raise ValueError(f"host range [{body}] in {line!r}: step is not a number") from None
    if step < 1:
        raise ValueError(f"host range [{body}] in {line!r}: step must be at least 1")
    letters = string.ascii_letters
    if beg in letters and end in letters and len(beg) == 1 and len(end) == 1:
        i, j = letters.index(beg), letters.index(end)
        if i > j:
            raise ValueError(f"host range [{body}] in {line!r}: begin is after end")
        return list(letters[i : j + 1 : step])
    try:
        lo, hi = int(beg), int(end)
    except ValueError:
        raise ValueError(f"host range [{body}] in {line!r} is neither numeric nor a-z") from None
    if (hi - lo) // step > MAX_EXPANSION:
        raise ValueError(f"host range [{body}] expands to more than {MAX_EXPANSION} names")
    return [str(n).zfill(width) for n in range(lo, hi + 1, step)]
