"""examples/systemd (issue 15): every ExecStart is a deployer command line the CLI accepts
(options renamed or removed would break a user's timer silently at 3 a.m.)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from deployer.cli import main

UNITS = sorted((Path(__file__).resolve().parents[2] / "examples" / "systemd").glob("*.service"))


def exec_start(unit: Path) -> list[str]:
    text = unit.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")]
    argv = shlex.split(line.split("=", 1)[1])
    assert "--notify" not in argv  # tokens stay off the command line (DEPLOYER_NOTIFY)
    assert argv[0].endswith("/deployer")
    return argv[1:]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_the_units_command_line_parses(unit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_NOTIFY", "json://x json://y")
    argv = exec_start(unit)
    group_ctx = main.make_context("deployer", list(argv), resilient_parsing=False)
    name, cmd, rest = main.resolve_command(group_ctx, argv)
    assert cmd is not None and name in ("deploy", "health")
    ctx = cmd.make_context(name, rest)  # raises click.UsageError on an unknown option
    assert ctx.params.get("notify") == ("json://x", "json://y")


def test_there_is_a_timer_for_the_rollout() -> None:
    timer = (UNITS[0].parent / "deployer-rollout.timer").read_text()
    assert len(UNITS) == 2 and "OnCalendar=" in timer and "Persistent=true" in timer
