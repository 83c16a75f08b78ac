"""examples/grafana (issue 15): the dashboard is valid JSON and queries only metrics that
`deployer health --output prometheus` exports (a renamed family would blank a panel)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployer.report.prometheus import FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "examples" / "grafana" / "deployer-dashboard.json"


def queries(node: Any) -> Iterator[str]:
    """Every PromQL text in the model: panel targets' `expr` and template variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str) and "(" in value:
                yield value
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def test_the_dashboard_is_a_grafana_model() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["title"] and doc["uid"] and isinstance(doc["schemaVersion"], int)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        assert panel["targets"] and set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["datasource"]["uid"] == "${datasource}"
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert variables == {"datasource", "host"}


def test_every_metric_it_queries_is_exported() -> None:
    doc = json.loads(DASHBOARD.read_text())
    found = list(queries(doc))
    names = {n for q in found for n in re.findall(r"\bdeployer_[a-z0-9_]+", q)}
    assert names and names <= set(FAMILIES), names - set(FAMILIES)
    # a label a query names is one its metric carries
    for q in found:
        for name, selector in re.findall(r"\b(deployer_[a-z0-9_]+)\{([^}]*)\}", q):
            labels = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", selector))
            assert labels <= set(FAMILIES[name][1]), (name, labels)


def test_it_shows_what_the_issue_asks_for() -> None:
    doc = json.loads(DASHBOARD.read_text())
    text = " ".join(q for q in queries(doc))
    for metric in (
        "deployer_host_severity",
        "deployer_container_state",
        "deployer_container_recent_restarts",
        "deployer_container_probe_latency_seconds",
        "deployer_host_disk_used_ratio",
        "deployer_host_memory_available_ratio",
        "deployer_container_started_timestamp_seconds",
        "deployer_container_info",
    ):
        assert metric in text, metric
