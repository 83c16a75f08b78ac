"""A privileged container stands out: red in the --diff lines of the recap and in
`deployer audit` on a terminal, plain words elsewhere (and in JSON, a field)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.model import ContainerSpec, HostConn, RunOptions, spec_marks
from deployer.report import run_text

RED = "\x1b[1;31m"


def recap(changes: list[str], terminal: bool, diff: bool = True) -> str:
    c = ContainerOutcome(name="web", action="replace", new_image="app:2", changes=changes)
    report = RunReport(playbook="site.yml", hosts=[HostOutcome("h1", "changed", containers=[c])])
    console = Console(file=io.StringIO(), force_terminal=terminal, width=300, highlight=False)
    run_text.render(report, console, diff=diff)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def red_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if RED in line]


def test_privileged_diff_lines_are_red_on_a_terminal() -> None:
    out = recap(["memory: null -> 1g", "privileged: null -> true"], terminal=True)
    (line,) = red_lines(out)
    assert "privileged: null -> true" in line and "memory" not in line
    mark = recap(["image: a -> b", "privileged: true (full access to the host)"], terminal=True)
    assert len(red_lines(mark)) == 1


def test_taking_privileged_away_is_not_an_alarm() -> None:
    assert red_lines(recap(["privileged: true -> null"], terminal=True)) == []


def test_without_a_terminal_the_words_stay_and_the_colour_goes() -> None:
    out = recap(["privileged: null -> true"], terminal=False)
    assert "~ privileged: null -> true" in out and "\x1b[" not in out


def test_a_container_line_is_never_taken_for_a_diff_line() -> None:
    out = recap([], terminal=True, diff=False)
    assert red_lines(out) == []


def test_the_audit_record_field_for_a_privileged_container() -> None:
    assert spec_marks(ContainerSpec("w", "i", options=RunOptions(privileged=True))) == {
        "privileged": True
    }
    assert spec_marks(ContainerSpec("w", "i")) == {}


def audit(monkeypatch: pytest.MonkeyPatch, records: list[dict[str, Any]], color: bool) -> str:
    from deployer.cli import locks as deploy
    from deployer.cli import main

    class Result:
        stdout, stderr, ok = "\n".join(json.dumps(r) for r in records) + "\n", "", True

    host = HostConn(name="h1", address="10.0.0.1")
    monkeypatch.setattr(deploy, "_hosts", lambda inventories, limit: [host])
    monkeypatch.setattr(deploy, "_each", lambda hs, fn, *a, **k: [(host, Result())])
    result = CliRunner().invoke(main, ["audit", "-i", "inv.yml"], color=color)
    assert result.exit_code == 0, result.output
    return result.output


RECORDS = [
    {"time": "1", "host": "h1", "container": "db", "action": "create", "new_image": "pg"},
    {
        "time": "2",
        "host": "h1",
        "container": "vpn",
        "action": "create",
        "new_image": "wg",
        "privileged": True,
    },
]


def test_audit_marks_privileged_records_red(monkeypatch: pytest.MonkeyPatch) -> None:
    out = audit(monkeypatch, RECORDS, color=True)
    db, vpn = out.splitlines()
    assert "PRIVILEGED" in vpn and "\x1b[31m" in vpn and "\x1b[" not in db


def test_audit_says_privileged_in_words_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    out = audit(monkeypatch, RECORDS, color=False)
    assert out.splitlines()[1].endswith("by None PRIVILEGED") and "\x1b[" not in out
