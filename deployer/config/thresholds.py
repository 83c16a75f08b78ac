"""Thresholds of the health verdict: sane defaults, overridable per host by variables.

Read here, where every other variable is read, so that `validate` (and `deploy`, and
`health` with a playbook) reports a bad one at its file:line:column; the health room
judges with the result (deployer.health.thresholds). Names (documented in docs/health.md):

    deployer_health_disk_warn      90   % used of / or the engine's data root: degraded
    deployer_health_disk_crit      97   % used: unhealthy
    deployer_health_mem_warn       10   % of memory available, below it: degraded
    deployer_health_load_warn      2.0  1-minute load per CPU, above it: degraded
    deployer_health_restarts_warn  3    restarts in the last 10 minutes, above it: degraded
    deployer_health_clock_warn     5.0  seconds of clock offset from the controller: degraded
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from deployer.source.problems import Mark, Path, Problems, did_you_mean

PREFIX = "deployer_health_"


@dataclass(frozen=True)
class Thresholds:
    disk_warn: float = 90.0
    disk_crit: float = 97.0
    mem_warn: float = 10.0
    load_warn: float = 2.0
    restarts_warn: float = 3.0
    clock_warn: float = 5.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


NAMES = tuple(PREFIX + f.name for f in fields(Thresholds))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().rstrip("%").strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Bad:
    """A bad threshold variable: `message` follows "key: " at its position; `sentence`
    stands alone (where no position is known)."""

    key: str
    message: str
    sentence: str


def read(variables: Mapping[str, object]) -> tuple[Thresholds, list[Bad]]:
    """The thresholds VARIABLES set (defaults for the bad ones), and the bad ones."""
    values: dict[str, float] = {}
    bad: list[Bad] = []
    for f in fields(Thresholds):
        key = PREFIX + f.name
        if key not in variables:
            continue
        number = _number(variables[key])
        if number is None:
            text = f"must be a number, not {variables[key]!r}"
            bad.append(Bad(key, text, f"{key} {text}"))
        elif number < 0:
            text = f"must not be negative, got {number:g}"
            bad.append(Bad(key, text, f"{key} {text}"))
        else:
            values[f.name] = number
    for key in sorted(k for k in variables if k.startswith(PREFIX) and k not in NAMES):
        hint = did_you_mean(key, NAMES) or f" (known: {', '.join(NAMES)})"
        bad.append(Bad(key, f"unknown variable{hint}", f"unknown variable {key}{hint}"))
    result = Thresholds(**values)
    if result.disk_crit < result.disk_warn:
        crit, warn = PREFIX + "disk_crit", PREFIX + "disk_warn"
        text = f"{crit} ({result.disk_crit:g}) is below {warn} ({result.disk_warn:g})"
        bad.append(Bad(crit if crit in variables else warn, text, text))
    return result, bad


Where = Callable[[str], tuple[str, Mark | None, Path]]  # variable -> (file, position, key path)


def check_thresholds(
    variables: Mapping[str, object], where: Where, host: str, problems: Problems
) -> None:
    """Add each bad threshold of HOST's VARIABLES to PROBLEMS, at the place WHERE says the
    winning value was written."""
    for bad in read(variables)[1]:
        file, mark, path = where(bad.key)
        problems.add(file, mark, path, bad.message, host=host)
