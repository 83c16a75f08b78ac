"""Text from a host never reaches the operator's terminal as escape sequences or rich styles.

Every text output (deploy recap, live board, progress lines, health table, HTML page,
lock status, audit, error messages) shows control characters visibly."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.health.model import ContainerHealth, Finding, HealthReport, HostHealth, ProbeResult
from deployer.model import HostConn
from deployer.report import health_html, health_text, run_text
from deployer.report.live import Board
from deployer.report.safe import markup, visible

# clear screen, window title, clipboard write (OSC 52), 8-bit CSI, bidi override, DEL, rich markup
EVIL = "a\x1b[2J\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x9b31m\u202e[red]b[/red]\x7f\rz"
BIDI = {0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def raw_controls(text: str) -> list[str]:
    """Every character a terminal would act on, but newlines."""
    return [
        c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 or ord(c) in BIDI
    ]


def shown(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def plain_console() -> Console:
    return Console(
        file=io.StringIO(), force_terminal=False, width=500, highlight=False, soft_wrap=True
    )


def test_visible_escapes_c0_del_c1_and_bidi() -> None:
    out = visible(EVIL)
    assert raw_controls(out) == []
    assert "\\x1b]52;c;" in out and "\\x9b31m" in out and "\\u202e" in out and "\\x7f" in out
    assert "\\x07" in out and "\\r" in out
    assert visible("line 1\nline 2") == "line 1\\nline 2"
    assert visible("line 1\nline 2\x1b", multiline=True) == "line 1\nline 2\\x1b"
    assert visible("plain text: é, 漢字, ü -> ok [x]") == "plain text: é, 漢字, ü -> ok [x]"
    assert all(raw_controls(visible(chr(c))) == [] for c in range(0x0, 0x3000))


def test_markup_keeps_rich_from_styling_host_text() -> None:
    console = plain_console()
    console.print(f"[bold]x[/bold] {markup(EVIL)}")
    out = shown(console)
    assert "[red]b[/red]" in out and raw_controls(out) == []


def run_report() -> RunReport:
    container = ContainerOutcome(
        name="web" + EVIL,
        action="replace",
        new_image="img" + EVIL,
        health="failed",
        health_detail=EVIL,
        error="HTTP 500" + EVIL,
        logs=[EVIL, "ok line"],
        changes=["image: " + EVIL],
    )
    host = HostOutcome(
        name="h1", status="failed", reason="web: HTTP 500" + EVIL, containers=[container]
    )
    other = HostOutcome(name="h2", status="unreachable", reason="cannot connect: " + EVIL)
    return RunReport(playbook="site.yml", hosts=[host, other])


def test_deploy_recap_escapes_host_text() -> None:
    console = plain_console()
    run_text.render(run_report(), console, diff=True)
    out = shown(console)
    assert raw_controls(out) == [], out
    assert "[red]b[/red]" in out and "\\x1b]52;c;" in out
    assert "| a\\x1b[2J" in out  # the log line, visibly


def test_live_board_and_progress_lines_escape_host_text() -> None:
    from deployer.cli.progress import progress_printer

    board = Board(["h1"])
    board.event("h1", "web: UNHEALTHY: " + EVIL)
    console = plain_console()
    console.print(board)
    progress_printer(console)("h1" + EVIL, "web: FAILED " + EVIL)
    progress_printer(console)("h2", "web: started " + EVIL)
    out = shown(console)
    assert raw_controls(out) == [], out
    assert out.count("[red]b[/red]") == 4  # the board, the host name and two messages


def health_report() -> HealthReport:
    probe = ProbeResult("http", "127.0.0.1:80/", False, "HTTP 500: " + EVIL)
    c = ContainerHealth(
        name="web" + EVIL, state="running", image="img" + EVIL, ports=[EVIL], probe=probe
    )
    h = HostHealth(
        name="h1",
        address="10.0.0.1",
        verdict="unhealthy",
        engine_version="20.10" + EVIL,
        findings=[Finding("unhealthy", "web: " + EVIL)],
        containers=[c],
        disks=[{"path": "/", "mount": EVIL, "used_pct": 3}],
    )
    return HealthReport(hosts=[h], generated_at="2024-01-01T00:00:00+00:00")


@pytest.mark.parametrize("color", [False, True])
def test_health_text_escapes_host_text(color: bool) -> None:
    out = health_text.render(health_report(), color=color, width=400)
    if color:  # its own colours only: SGR sequences
        import re

        out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert raw_controls(out) == [], out
    assert "[red]b[/red]" in out and "20.10a\\x1b[2J" in out


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def test_health_html_shows_host_text_escaped() -> None:
    page = health_html.render(health_report())
    assert raw_controls(page) == []
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    texts = _strings(data)
    assert [t for t in texts if raw_controls(t)] == []  # what the page's script shows
    assert any("\\x1b]52;c;" in t for t in texts)


def test_health_json_keeps_the_real_text() -> None:
    from deployer.report import health_json

    doc = json.loads(health_json.render(health_report()))
    assert doc["hosts"][0]["engine_version"] == "20.10" + EVIL


class _Result:
    def __init__(self, stdout: str) -> None:
        self.stdout, self.stderr, self.ok = stdout, "", True


HOSTS = [HostConn(name="h1", address="10.0.0.1"), HostConn(name="h2", address="10.0.0.2")]


def _cli(monkeypatch: pytest.MonkeyPatch, result_h1: Any, *args: str) -> str:
    """Run a per-host command with h1 answering RESULT_H1 and h2 unreachable."""
    from deployer.cli import locks as deploy
    from deployer.cli import main
    from deployer.errors import RemoteError

    def each(hs: Any, fn: Any, *a: Any, **k: Any) -> list[tuple[HostConn, Any]]:
        return [(HOSTS[0], result_h1), (HOSTS[1], RemoteError("no route: " + EVIL))]

    monkeypatch.setattr(deploy, "_hosts", lambda inventories, limit: HOSTS)
    monkeypatch.setattr(deploy, "_each", each)
    monkeypatch.setattr(deploy, "_each_session", each)
    result = CliRunner().invoke(main, [*args, "-i", "inv.yml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def _holder() -> Any:
    from deployer.docker import locking
    from deployer.engine.locks import Holder

    state = locking.LockState(
        held=True,
        info={"who": "x" + EVIL, "playbook": EVIL, "since": EVIL},
        raw="",
        heartbeat_age=None,
    )
    return Holder(state, alive=False, why="no heartbeat")


def test_lock_status_escapes_lock_info(monkeypatch: pytest.MonkeyPatch) -> None:
    holder = _holder()
    out = _cli(monkeypatch, (holder, holder.state), "lock", "status")
    assert raw_controls(out) == [], out
    assert "\\x1b]52;c;" in out and "no route: a\\x1b[2J" in out


def test_lock_release_escapes_lock_info(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _cli(monkeypatch, ("released (was held by " + EVIL + ")", True), "lock", "release")
    assert raw_controls(out) == [], out
    assert "\\x1b]52;c;" in out and "no route: a\\x1b[2J" in out


def test_audit_escapes_audit_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    line = json.dumps(
        {
            "time": "2024",
            "host": "h1",
            "container": "web" + EVIL,
            "action": "replace",
            "old_image": EVIL,
            "new_image": "b",
            "outcome": "ok" + EVIL,
            "who": EVIL,
        }
    )
    out = _cli(monkeypatch, _Result(line + "\n"), "audit")
    assert raw_controls(out) == [], out
    assert out.count("\\x1b]52;c;") >= 4


def test_error_messages_escape_host_text() -> None:
    import click

    from deployer.cli import fail
    from deployer.errors import RemoteError

    @click.command()
    def cmd() -> None:
        fail(RemoteError("docker said: " + EVIL + "\nsecond line"))

    result = CliRunner().invoke(cmd, [])
    assert raw_controls(result.output) == [], result.output
    assert "docker said: a\\x1b[2J" in result.output and "\nsecond line" in result.output
