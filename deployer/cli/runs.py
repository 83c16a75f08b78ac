"""`deployer runs`: the local history of deploys and rollbacks (what this machine ran), with
filters; `deployer runs show ID` shows one run's report again."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console

from deployer.cli import handle_errors, main
from deployer.cli.deploy import state_dir
from deployer.cli.options import output_opt
from deployer.errors import ConfigError
from deployer.report.safe import visible

STATUSES = ("ok", "changed", "failed", "unreachable", "skipped")
_SINCE = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def load_runs() -> list[dict[str, Any]]:
    """Every recorded run, oldest first; lines that are not JSON are skipped."""
    path = state_dir() / "runs.jsonl"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ConfigError(f"cannot read the run history {path}: {err.strerror or err}") from None
    out = []
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if _well_formed(data):
            out.append(data)
    return out


def _well_formed(data: object) -> bool:
    """A record as deployer writes it (a history file may be edited, cut or corrupt)."""
    if not isinstance(data, dict) or not isinstance(data.get("hosts", []), list):
        return False
    for key in ("run", "playbook", "started_at", "command"):
        if not isinstance(data.get(key, ""), str):
            return False
    for h in data.get("hosts", []):
        if not isinstance(h, dict) or not isinstance(h.get("containers", []), list):
            return False
        if not all(isinstance(c, dict) for c in h.get("containers", [])):
            return False
    return True


def since_cutoff(text: str | None) -> datetime | None:
    if text is None:
        return None
    m = _SINCE.match(text.strip())
    if not m or len(m.group(1)) > 6:
        raise ConfigError(
            f"--since {text!r}: use a number (at most 6 digits) and s, m, h, d or w (e.g. 2d)"
        )
    return datetime.now(UTC) - timedelta(seconds=int(m.group(1)) * _UNIT[m.group(2)])


def matches(
    run: dict[str, Any], playbook: str | None, status: str | None, cutoff: datetime | None
) -> bool:
    if playbook and playbook not in str(run.get("playbook", "")):
        return False
    if status and not any(h.get("status") == status for h in run.get("hosts") or []):
        return False
    if cutoff is not None:
        try:
            started = datetime.fromisoformat(str(run.get("started_at")))
        except ValueError:
            return False
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started < cutoff:
            return False
    return True


def summary(run: dict[str, Any]) -> str:
    hosts = run.get("hosts") or []
    counts = {s: sum(1 for h in hosts if h.get("status") == s) for s in STATUSES}
    said = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no hosts"
    return (
        f"{str(run.get('run', ''))[:12] or '-':12}  {run.get('started_at', '?')}  "
        f"{run.get('command', 'deploy'):8}  exit {run.get('exit_code', '?'):<3}  "
        f"{visible(str(run.get('playbook', '?')))}  ({said})"
    )


@main.group(invoke_without_command=True)
@click.option("--playbook", default=None, help="Only runs of playbooks whose path contains this.")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default=None,
    help="Only runs where a host ended so (failed: the runs that failed somewhere).",
)
@click.option("--since", default=None, metavar="AGE", help="Only runs started since, e.g. 2d, 6h.")
@click.option("--last", default=20, show_default=True, type=click.IntRange(1, 100000))
@output_opt
@click.pass_context
@handle_errors
def runs(
    ctx: click.Context,
    playbook: str | None,
    status: str | None,
    since: str | None,
    last: int,
    output: str,
) -> None:
    """The deploys and rollbacks this machine ran, newest last (`runs show ID` for one)."""
    if ctx.invoked_subcommand is not None:
        return
    cutoff = since_cutoff(since)
    chosen = [r for r in load_runs() if matches(r, playbook, status, cutoff)][-last:]
    if output == "json":
        click.echo(json.dumps({"schema": "deployer.runs/v1", "runs": chosen}, indent=2))
        return
    if not chosen:
        click.echo(f"no recorded run matches (history: {state_dir() / 'runs.jsonl'})")
        return
    for run in chosen:
        click.echo(summary(run))


@runs.command()
@click.argument("run_id")
@output_opt
@handle_errors
def show(run_id: str, output: str) -> None:
    """One recorded run's report again (RUN_ID: its id, or a prefix of 4 or more)."""
    from deployer.engine.outcomes import RunReport
    from deployer.report.run_text import render

    if len(run_id) < 4:
        raise ConfigError("RUN_ID: give at least 4 characters of the run's id")
    found = [r for r in load_runs() if str(r.get("run", "")).startswith(run_id)]
    if not found:
        raise ConfigError(f"no recorded run has an id starting with {run_id!r}")
    if len({str(r.get("run")) for r in found}) > 1:
        raise ConfigError(f"{run_id!r} names {len(found)} runs: give more of the id")
    run = found[-1]
    if output == "json":
        click.echo(json.dumps(run, indent=2))
        return
    try:
        report = RunReport.from_json(run)
        render(report, Console(highlight=False, soft_wrap=True))
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        raise ConfigError(
            f"run {run_id}: its record is not one deployer can show ({err}); `-o json` prints it"
        ) from None
