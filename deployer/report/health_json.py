"""The health report as one JSON document, schema "deployer.health/v1" (docs/health.md)."""

from __future__ import annotations

import json

from deployer.health.model import HealthReport


def render(report: HealthReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"
