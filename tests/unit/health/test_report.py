"""The three renderings of a HealthReport, and its exit codes."""

from __future__ import annotations

import json

import jsonschema
import pytest

from deployer.health.model import ContainerHealth, Finding, HealthReport, HostHealth, ProbeResult
from deployer.health.schema import JSON_SCHEMA
from deployer.report import health_html, health_json, health_text


def host(name: str, verdict: str, *reasons: str) -> HostHealth:
    level = verdict if verdict != "healthy" else "degraded"
    h = HostHealth(
        name=name,
        address="10.0.0.1",
        verdict=verdict,  # type: ignore[arg-type]
        findings=[Finding(level, r) for r in reasons],  # type: ignore[arg-type]
        reachable=verdict != "unreachable",
        ssh_latency_ms=1.5,
        engine_version="20.10",
        disks=[{"path": "/", "mount": "/", "used_pct": 40, "size_kb": 10, "avail_kb": 6}],
        mem_available_pct=50.0,
        load=[0.1, 0.2, 0.3],
        cpus=2,
        uptime_s=100.0,
        clock_offset_s=0.0,
    )
    h.containers = [
        ContainerHealth(
            name="web",
            id="x",
            state="running",
            health="healthy",
            image="app:1",
            digest="sha256:ab",
            ports=["0.0.0.0:8080->80/tcp"],
            probe=ProbeResult("http", "127.0.0.1:8080/", True, "HTTP 200 on / in 1 ms", 200, 1.0),
        )
    ]
    return h


def report(*verdicts: str) -> HealthReport:
    hosts = [
        host(f"h{i}", v, *([f"reason {i} <b>&"] if v != "healthy" else []))
        for i, v in enumerate(verdicts, 1)
    ]
    return HealthReport(hosts=hosts, generated_at="2024-01-01T00:00:00+00:00")


@pytest.mark.parametrize(
    "verdicts, code",
    [
        (["healthy", "healthy"], 0),
        (["healthy", "degraded"], 3),
        (["unhealthy", "unreachable"], 3),
        (["degraded", "unreachable"], 4),
        (["healthy", "unreachable"], 4),
        ([], 0),
    ],
)
def test_exit_codes(verdicts: list[str], code: int) -> None:
    assert report(*verdicts).exit_code == code


def test_json_follows_schema() -> None:
    doc = json.loads(health_json.render(report("healthy", "degraded", "unreachable")))
    jsonschema.validate(doc, JSON_SCHEMA)
    assert doc["schema"] == "deployer.health/v1"
    assert [h["verdict"] for h in doc["hosts"]] == ["healthy", "degraded", "unreachable"]
    assert doc["hosts"][1]["reasons"] == ["reason 2 <b>&"]
    assert doc["summary"]["exit_code"] == 4


def test_text_table_and_reasons() -> None:
    out = health_text.render(report("healthy", "unhealthy"))
    assert "h1" in out and "HEALTHY" in out and "UNHEALTHY" in out
    assert "h2: reason 2 <b>&" in out
    assert "\x1b[" not in out
    assert "\x1b[" in health_text.render(report("unhealthy"), color=True)


def test_html_is_self_contained_and_safe() -> None:
    page = health_html.render(report("healthy", "unhealthy"))
    assert page.startswith("<!DOCTYPE html>")
    for outside in ("http://", "https://", "<link", "src="):
        assert outside not in page.replace("https://json-schema.org", "")
    assert "<b>" not in page  # data is escaped inside the JSON block
    data = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["hosts"][1]["verdict"] == "unhealthy"
