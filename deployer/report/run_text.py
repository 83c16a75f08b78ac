"""A deploy/rollback run as text: the recap table, one row per host, reasons beneath."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.report.safe import visible

STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold magenta",
    "skipped": "dim",
}
ALARM = "bold red"
KEPT = ("spec changed, not replaced", "not replaced")  # plan/lifecycle.py with_policy


def _container_line(c: ContainerOutcome, check: bool, diff: bool) -> str:
    verb = {
        "noop": "unchanged",
        "create": "created",
        "replace": "replaced",
        "rollback": "rolled back",
        "remove": "removed",
    }.get(c.action, c.action)
    if check and c.action in ("create", "replace", "remove"):
        verb = f"would be {verb}"
    if c.action in ("rollback", "remove") and c.error:
        verb = f"{'rollback' if c.action == 'rollback' else 'removal'} failed"
    text = f"{visible(c.name)}: {verb}"
    if c.action != "noop" and c.new_image:
        text += f" -> {visible(c.new_image)}"
    if c.action == "remove" and c.old_image:
        text += f" ({visible(c.old_image)})"
    kept = c.action == "noop" and c.changes and c.changes[0].startswith(KEPT)
    if kept:  # replace: on_change / never left a change alone: said, not done
        text += f" ({visible(c.changes[0])})"
        if diff:
            text += "".join(f"\n      ~ {visible(line)}" for line in c.changes[1:])
    if c.health == "passed":
        text += f" [{visible(c.health_detail)}]"
    if c.error:
        text += f"; {visible(c.error)}"
    if diff and c.action != "noop" and c.changes:
        text += "".join(f"\n      ~ {visible(line)}" for line in c.changes)
    if c.logs:
        text += "\n      last log lines:" + "".join(
            f"\n        | {visible(ln)}" for ln in c.logs[-10:]
        )
    return text


def recap_table(report: RunReport, diff: bool = False) -> Table:
    title = "check (nothing was changed)" if report.check else "recap"
    table = Table(
        title=Text(f"{title}: {visible(report.playbook)} in {report.took:.1f}s"),
        show_lines=False,
        title_justify="left",
    )
    for col in ("host", "status", "containers", "took", "cmds"):
        table.add_column(col, no_wrap=col != "containers")
    for h in report.hosts:
        table.add_row(
            Text(visible(h.name)),
            Text(h.status, style=STYLE[h.status]),
            _styled(_details(h, report.check, diff)),
            f"{h.took:.1f}s",
            str(h.commands),
        )
    return table


def _styled(details: str) -> Text:
    """The details, each diff line that makes a container privileged in red: such a
    container has the whole host (colour only on a terminal, as rich decides)."""
    out, start = Text(details), 0
    for line in details.split("\n"):
        body = line.strip()
        if body.startswith("~ privileged:") and not body.endswith("-> null"):
            out.stylize(ALARM, start, start + len(line))
        start += len(line) + 1
    return out


def _details(h: HostOutcome, check: bool, diff: bool) -> str:
    lines = [visible(p) for p in h.upkeep]
    lines += [_container_line(c, check, diff) for c in h.containers]
    if h.reason and not _said(h, lines):
        lines.append(visible(h.reason))
    return "\n".join(lines) or "-"


def _said(h: HostOutcome, lines: list[str]) -> bool:
    """Is the host's reason already in its container lines? A failed container's reason is
    "NAME: [what failed: ]ERROR", and its line shows that ERROR."""
    if visible(h.reason) in " ".join(lines):
        return True
    return any(
        c.error and h.reason.startswith(f"{c.name}: ") and h.reason.endswith(c.error)
        for c in h.containers
    )


def summary_line(report: RunReport) -> str:
    counts = report.to_json()["summary"]
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    tail = " (interrupted)" if report.interrupted else ""
    return f"{len(report.hosts)} hosts: " + ", ".join(parts) + tail


def render(report: RunReport, console: Console, diff: bool = False) -> None:
    console.print(recap_table(report, diff))
    console.print(summary_line(report))
