"""Proxy mode in the health report: the proxy, where each route points, and the verdict."""

from __future__ import annotations

import dataclasses

import jsonschema
import pytest

from deployer.docker import proxy as px
from deployer.health.facts import Route, parse
from deployer.health.model import HealthReport
from deployer.health.schema import JSON_SCHEMA
from deployer.health.thresholds import Thresholds
from deployer.health.verdict import judge
from deployer.model import ProxySpec
from deployer.report.health_text import render
from tests.unit.health.test_verdict import WEB_ID, facts, obs


def proxied(**kw: object):  # facts of a host whose proxy routes `web` to WEB_ID
    base = {"proxy": (True, "caddy:2.6"), "routes": [Route("web", None, "/", WEB_ID[:12], 80)]}
    return facts(**{**base, **kw})


def verdict(f):
    return judge("h1", "10.0.0.1", f, specs=None, probes={}, thresholds=Thresholds())


def test_the_script_output_is_read_into_the_proxy_and_its_routes() -> None:
    route = px.route_json("site", ProxySpec(port=8080, host="a.example", path="/api"), "ab" * 32)
    out = (
        "--deployer-health:proxy--\ntrue reg/caddy:2.6\n--deployer-health:routes--\n"
        f"{px.MARK_ROUTE} 09996=site.json\n{route}\n"
    )
    f = parse(out)
    assert f.proxy == (True, "reg/caddy:2.6")
    assert f.routes == [Route("site", "a.example", "/api", "ab" * 6, 8080)]
    assert parse("--deployer-health:proxy--\nnone\n").proxy is None


def test_a_route_to_a_running_container_is_healthy_and_shown() -> None:
    h = verdict(proxied())
    assert h.verdict == "healthy", h.reasons
    assert h.proxy == {
        "running": True,
        "image": "caddy:2.6",
        "routes": [
            {
                "name": "web",
                "host": None,
                "path": "/",
                "port": 80,
                "container_id": WEB_ID[:12],
                "container": "web",
                "state": "running",
                "health": "healthy",
            }
        ],
    }
    report = HealthReport([h], "2026-11-28T00:00:00+00:00")
    jsonschema.validate(report.to_dict(), JSON_SCHEMA)
    assert "*/ -> web (web, running)" in render(report)


@pytest.mark.parametrize(
    ("containers", "reason"),
    [
        ([], "no such container"),
        ([obs(status="exited", running=False)], "container exited"),
        ([obs(health="unhealthy")], "container unhealthy"),
    ],
)
def test_a_route_to_a_missing_stopped_or_unhealthy_container_is_unhealthy(
    containers, reason
) -> None:
    h = verdict(proxied(containers=containers))
    assert h.verdict == "unhealthy"
    assert f"route web -> {WEB_ID[:12]}: {reason}" in h.reasons, h.reasons


def test_routes_without_a_running_proxy_are_unhealthy() -> None:
    h = verdict(proxied(proxy=(False, "caddy:2.6")))
    assert "proxy deployer-proxy is not running" in h.reasons
    h = verdict(dataclasses.replace(proxied(), proxy=None))
    assert "proxy deployer-proxy is missing" in h.reasons


def test_a_host_without_a_proxy_shows_nothing_new() -> None:
    h = verdict(facts())
    assert h.proxy is None and h.verdict == "healthy"
    assert "proxy" not in render(HealthReport([h], "2026-11-28T00:00:00+00:00"))
