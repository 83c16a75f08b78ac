"""`deployer health -i INV [PLAYBOOK]`: is every host up, and every container wanted and healthy?"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from deployer.cli import handle_errors, main
from deployer.cli.options import inventory_opt, keys_opt, limit_opt
from deployer.cli.selection import select
from deployer.cli.vaultopt import vault_opt
from deployer.errors import EXIT_INTERRUPTED, ConfigError
from deployer.health.model import HealthReport
from deployer.model import HostConn, Playbook
from deployer.targets import Observer
from deployer.targets.ssh import SshEngine

if TYPE_CHECKING:
    from deployer.report.prometheus_http import MetricsServer


def _watch_notifier(
    flags: tuple[str, ...], hosts: list[HostConn], book: Playbook | None
) -> tuple[Any, Any]:
    """The watch's notifier (None without URLs) and the verdicts it remembers."""
    from deployer.report.notify import Notifier, VerdictWatch, urls_from

    every = [h.vars for h in hosts] + [
        h.vars for p in (book.plays if book else ()) for h in p.hosts
    ]
    urls = urls_from(flags, every)
    return (Notifier(urls) if urls else None), VerdictWatch()


def _render(report: HealthReport, output: str, color: bool) -> str:
    if output == "json":
        from deployer.report import health_json

        return health_json.render(report)
    if output == "html":
        from deployer.report import health_html

        return health_html.render(report)
    if output == "prometheus":
        from deployer.report import prometheus

        return prometheus.render(report)
    from deployer.report import health_text

    return health_text.render(report, color=color)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(out)
    except OSError as err:
        tmp.unlink(missing_ok=True)  # no half-written leftover next to FILE
        raise ConfigError(f"--out {out}: cannot write: {err.strerror or err}") from None


def _serve(listen: str | None) -> MetricsServer | None:
    """The /metrics server of --serve, listening already (None without --serve)."""
    if listen is None:
        return None
    from deployer.report.prometheus_http import MetricsServer, parse_listen

    server = MetricsServer(*parse_listen(listen))
    click.echo(f"serving metrics at {server.url}", err=True)
    return server


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@main.command()
@inventory_opt
@vault_opt
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@limit_opt
@click.option(
    "-e",
    "--extra-vars",
    "extra",
    multiple=True,
    help="key=value or @file.yml; repeatable; as for deploy (thresholds too).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "html", "prometheus"]),
    default="text",
    show_default=True,
    help="prometheus: the text exposition format (for node_exporter's textfile collector).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to FILE (replaced at once, each round with --watch).",
)
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5),
    default=None,
    metavar="SECONDS",
    help="Check again every SECONDS until Ctrl-C; text output redraws in place.",
)
@click.option(
    "--serve",
    default=None,
    metavar="ADDR:PORT",
    help="With --watch: serve the latest round's metrics at http://ADDR:PORT/metrics for "
    "Prometheus (a bare PORT listens on 127.0.0.1).",
)
@click.option(
    "--forks",
    "-f",
    default=20,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Hosts checked at once.",
)
@keys_opt
@click.option(
    "--notify",
    "notify",
    multiple=True,
    metavar="URL",
    envvar="DEPLOYER_NOTIFY",
    help="With --watch: send each host's verdict change (and recovery), once per change, to "
    "this Apprise URL; repeatable; with the inventory's deployer_notify.",
)
@handle_errors
def health(
    inventories: tuple[str, ...],
    playbook: str | None,
    limit: str | None,
    extra: tuple[str, ...],
    output: str,
    out: Path | None,
    watch: float | None,
    serve: str | None,
    forks: int,
    accept_new_host_keys: bool,
    notify: tuple[str, ...],
) -> None:
    """Report each host's verdict (healthy/degraded/unhealthy/unreachable) and its reasons.

    With a PLAYBOOK, also probe each declared container's health check from the host's
    side and report drift (version, missing containers, ports taken). Exit code: 0 all
    healthy, 3 any degraded or unhealthy, 4 any unreachable (none unhealthy).
    """
    from deployer.health import gather

    if serve is not None and watch is None:
        raise ConfigError("--serve goes with --watch: it serves the latest round's metrics")
    hosts, book = select(inventories, playbook, extra, limit)
    console = None  # rich for text on the screen only (JSON for cron loads none of it)
    if out is None and output == "text":
        from rich.console import Console

        console = Console(highlight=False)
    color = console is not None and console.is_terminal

    def factory(conn: HostConn) -> Observer:
        return SshEngine(conn, accept_new_host_keys=accept_new_host_keys)

    if watch is None:
        report = gather(hosts, book, forks=forks, connect=factory)
        text, code = _render(report, output, color), report.exit_code
        if book is not None and any(p.target == "swarm" for p in book.plays):
            from deployer.cli.swarm import health_section

            every = select(inventories, None, (), None)[0]  # nodes by inventory name
            text, code = health_section(book, every, text, code, output, accept_new_host_keys)
        _write(text, out)
        sys.exit(code)
    notifier, changes = _watch_notifier(notify, hosts, book)
    server = _serve(serve)
    engines: dict[str, Observer] = {}
    old_term = signal.signal(signal.SIGTERM, _interrupt)  # a service's stop: as Ctrl-C
    try:
        while True:
            started = time.monotonic()
            report = gather(hosts, book, engines, forks=forks, connect=factory)
            if server is not None:
                server.update(report)
            for problem in notifier.send_all(changes.changes(report)) if notifier else ():
                click.echo(f"warning: {problem}", err=True)
            text = _render(report, output, color)
            if console is not None and console.is_terminal:
                console.clear()
            _write(text, out)
            if out is not None:
                click.echo(
                    f"{report.generated_at} {', '.join(f'{n} {v}' for v, n in report.counts().items() if n)}"
                    f" -> {out}",
                    err=True,
                )
            time.sleep(max(0.0, watch - (time.monotonic() - started)))
    except KeyboardInterrupt:
        click.echo("stopped watching", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if server is not None:
            server.close()
        for e in engines.values():
            e.close()
