"""Thresholds of the health verdict: sane defaults, overridable per host by variables.

Set them as host variables (inventory, group_vars, host_vars) or with `-e` (with or
without a playbook); a play's vars do not reach them. Names (documented in docs/health.md):

    deployer_health_disk_warn      90   % used of / or the engine's data root: degraded
    deployer_health_disk_crit      97   % used: unhealthy
    deployer_health_mem_warn       10   % of memory available, below it: degraded
    deployer_health_load_warn      2.0  1-minute load per CPU, above it: degraded
    deployer_health_restarts_warn  3    restarts in the last 10 minutes, above it: degraded
    deployer_health_clock_warn     5.0  seconds of clock offset from the controller: degraded
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from deployer.errors import ConfigError

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


def _number(host: str, key: str, value: Any) -> tuple[float | None, str | None]:
    if isinstance(value, bool):
        return None, f"host {host}: {key} must be a number, not {value!r}"
    if isinstance(value, int | float):
        return float(value), None
    text = str(value).strip().rstrip("%").strip()
    try:
        return float(text), None
    except ValueError:
        return None, f"host {host}: {key} must be a number, not {value!r}"


def from_vars(host: str, variables: dict[str, object]) -> Thresholds:
    """The host's thresholds; ConfigError naming every bad variable."""
    values: dict[str, float] = {}
    problems = []
    for f in fields(Thresholds):
        key = PREFIX + f.name
        if key not in variables:
            continue
        number, problem = _number(host, key, variables[key])
        if problem:
            problems.append(problem)
        elif number is not None and number < 0:
            problems.append(f"host {host}: {key} must not be negative, got {number:g}")
        elif number is not None:
            values[f.name] = number
    unknown = sorted(k for k in variables if k.startswith(PREFIX) and k not in NAMES)
    for key in unknown:
        problems.append(f"host {host}: unknown variable {key} (known: {', '.join(NAMES)})")
    result = Thresholds(**values)
    if result.disk_crit < result.disk_warn:
        problems.append(f"host {host}: {PREFIX}disk_crit ({result.disk_crit:g}) is below "
                        f"{PREFIX}disk_warn ({result.disk_warn:g})")
    if problems:
        raise ConfigError(problems)
    return result
