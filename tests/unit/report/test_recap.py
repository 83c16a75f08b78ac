"""The recap table of a deploy/rollback run: each fact once."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.report import run_text


def recap(*hosts: HostOutcome) -> str:
    console = Console(file=io.StringIO(), force_terminal=False, width=300, highlight=False)
    run_text.render(RunReport(playbook="site.yml", hosts=list(hosts)), console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


UNHEALTHY = "HTTP 500 on / (wants 200) after 5 tries; rolled back to app:1"
COULD_NOT_START = "could not start: port is already allocated; rolled back to app:1"


@pytest.mark.parametrize("error", [UNHEALTHY, COULD_NOT_START])
def test_a_failed_containers_message_is_shown_once(error: str) -> None:
    c = ContainerOutcome(
        name="web", action="replace", new_image="app:2", health="failed", error=error
    )
    out = recap(HostOutcome(name="h1", status="failed", reason=f"web: {error}", containers=[c]))
    assert out.count(error.split(";")[0]) == 1, out
    assert "web: replaced -> app:2; " + error.split(";")[0] in out


def test_a_failed_rollback_says_so_once() -> None:
    detail = "HTTP 502 on / (wants 200)"
    c = ContainerOutcome(
        name="web", action="rollback", new_image="app:1", health="failed", error=detail
    )
    out = recap(
        HostOutcome(
            name="h1", status="failed", reason=f"web: rollback failed: {detail}", containers=[c]
        )
    )
    assert out.count(detail) == 1, out
    assert "web: rollback failed -> app:1; HTTP 502" in out


def test_a_reason_not_about_a_container_line_is_kept() -> None:
    ok = ContainerOutcome(name="web", action="noop")
    out = recap(
        HostOutcome(
            name="h1",
            status="failed",
            reason="could not release the lock: disk full",
            containers=[ok],
        ),
        HostOutcome(name="h2", status="unreachable", reason="cannot connect: refused"),
    )
    assert "could not release the lock: disk full" in out and "cannot connect: refused" in out


def test_a_reason_with_control_characters_is_shown_once() -> None:
    error = "HTTP 500\x1b[2J; rolled back to app:1"
    c = ContainerOutcome(
        name="web", action="replace", new_image="app:2", health="failed", error=error
    )
    out = recap(HostOutcome(name="h1", status="failed", reason=f"web: {error}", containers=[c]))
    assert out.count("HTTP 500\\x1b[2J") == 1, out


def test_what_the_proxy_needed_is_in_the_hosts_row() -> None:
    out = recap(HostOutcome(name="h1", status="changed", upkeep=["proxy: stopped, to be started"]))
    assert "proxy: stopped, to be started" in out
