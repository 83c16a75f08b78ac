"""Day-two views across the fleet: `ps` (what runs where) and `logs` (every host's log
lines, prefixed; `-f` follows all at once), and the hosts they and cli/operate.py work on.
`exec`, `restart`, `stop` and `start` are in cli/operate.py, `init` in cli/init.py."""

from __future__ import annotations

import json
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deployer.cli import handle_errors, main
from deployer.cli.options import (
    extra_opt,
    forks_opt,
    inventory_opt,
    keys_opt,
    limit_opt,
    output_opt,
)
from deployer.cli.selection import select
from deployer.cli.vaultopt import vault_opt
from deployer.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    ConfigError,
    DeployerError,
)
from deployer.model import ContainerSpec, HostConn, same_image, spec_hash
from deployer.report.safe import visible

COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_red",
    "bright_cyan",
    "bright_green",
)
MAX_GREP = 1000  # characters of a --grep pattern


@dataclass
class Target:
    conn: HostConn
    declared: dict[str, ContainerSpec] = field(default_factory=dict)  # by name, from a playbook


def targets(
    inventories: tuple[str, ...],
    playbook: str | None,
    extra: tuple[str, ...],
    limit: str | None,
) -> list[Target]:
    """The hosts (a playbook's, else the inventory's) and what the playbook declares there."""
    hosts, book = select(inventories, playbook, extra, limit)
    if book is None:
        return [Target(conn) for conn in hosts]
    out: dict[str, Target] = {}
    for play in book.plays:
        for conn in play.hosts:
            t = out.setdefault(conn.name, Target(conn))
            t.declared.update({s.name: s for s in play.containers.get(conn.name, ())})
            for gone in [s.name for s in play.containers.get(conn.name, ()) if s.state == "absent"]:
                del t.declared[gone]  # state: absent: removed by a deploy, declared no more
    return list(out.values())


def names_on(t: Target, container: str | None, playbook: str | None) -> list[str]:
    if container:
        if playbook and container not in t.declared:
            return []
        return [container]
    return list(t.declared)


def engine(conn: HostConn, accept_new_host_keys: bool) -> Any:
    from deployer.targets.ssh import SshEngine

    return SshEngine(conn, accept_new_host_keys=accept_new_host_keys)


# -- ps ---------------------------------------------------------------------------------------


def uptime(started_at: str, running: bool, now: datetime) -> str:
    """How long it has run: 42s, 7m, 5h12m, 3d4h; `-` when it does not run."""
    if not running or not started_at or started_at.startswith("0001-"):
        return "-"
    try:
        started = datetime.fromisoformat(started_at.replace("Z", "")[:26]).replace(tzinfo=UTC)
    except ValueError:
        return "?"
    s = max(0, int((now - started).total_seconds()))
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    return f"{s // 60}m" if s >= 60 else f"{s}s"


def ports_of(raw: dict[str, Any]) -> list[str]:
    out = []
    for inside, binds in sorted((raw or {}).items()):
        for b in binds or []:
            out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{inside}")
    return out


def ps_rows(
    t: Target, containers: list[Any], playbook: bool, now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for c in sorted(containers, key=lambda c: (c.logical_name, not c.is_live, c.name)):
        spec = t.declared.get(c.logical_name)
        if not c.is_live:
            matches = "retained"
        elif not playbook:
            matches = "-"
        elif spec is None:
            matches = "undeclared"
        else:
            # deploy --build pins the image to its digest: the spec it ran with says so
            pinned = replace(spec, image=c.image) if same_image(c.image, spec.image) else spec
            matches = "yes" if c.spec_hash == spec_hash(pinned) else "drift"
        rows.append(
            {
                "host": t.conn.name,
                "container": c.logical_name,
                "name": c.name,
                "id": c.id[:12],
                "image": c.image,
                "image_id": c.image_id,
                "state": c.status + (f" ({c.health})" if c.health else ""),
                "uptime": uptime(c.started_at, c.running, now),
                "restarts": c.restarts,
                "ports": ports_of(c.ports),
                "matches": matches,
            }
        )
    if playbook:  # declared but not there at all
        present = {c.logical_name for c in containers if c.is_live}
        for name in t.declared:
            if name not in present:
                rows.append(
                    {"host": t.conn.name, "container": name, "name": "", "id": "", "image": "",
                     "image_id": "", "state": "missing", "uptime": "-", "restarts": 0,
                     "ports": [], "matches": "missing"}
                )  # fmt: skip
    return rows


@main.command()
@inventory_opt
@vault_opt
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@extra_opt
@limit_opt
@forks_opt
@keys_opt
@output_opt
@handle_errors
def ps(
    inventories: tuple[str, ...],
    playbook: str | None,
    extra: tuple[str, ...],
    limit: str | None,
    forks: int,
    accept_new_host_keys: bool,
    output: str,
) -> None:
    """One table of what runs where: every deployer-managed container on every host, and
    with a PLAYBOOK whether it matches it (yes, drift, undeclared, missing)."""
    from deployer.docker.daytwo import ps_script
    from deployer.docker.facts import parse_facts
    from deployer.parallel import each

    hosts = targets(inventories, playbook, extra, limit)

    def one(t: Target) -> list[dict[str, Any]]:
        e = engine(t.conn, accept_new_host_keys)
        try:
            res = e.session.run(ps_script(), timeout=60)
        finally:
            e.close()
        if not res.ok:
            raise DeployerError(res.stderr.strip()[-300:] or f"exit {res.exited}")
        return ps_rows(
            t, parse_facts(res.stdout).containers, playbook is not None, datetime.now(UTC)
        )

    done = each(hosts, one, forks)
    rows = [r for d in done if d.ok for r in (d.value or [])]
    errors = {d.item.conn.name: str(d.error) for d in done if not d.ok}
    if output == "json":
        click.echo(
            json.dumps({"schema": "deployer.ps/v1", "containers": rows, "errors": errors}, indent=2)
        )
    else:
        table = Table(show_lines=False, title_justify="left")
        for col in ("host", "container", "image", "state", "up", "restarts", "ports", "matches"):
            table.add_column(col, no_wrap=col not in ("image", "ports"))
        for r in rows:
            table.add_row(
                *(Text(visible(str(v))) for v in (
                    r["host"], r["container"] + ("" if r["name"] in ("", r["container"]) else f" ({r['name']})"),
                    r["image"], r["state"], r["uptime"], r["restarts"], ", ".join(r["ports"]), r["matches"],
                ))
            )  # fmt: skip
        console = Console(highlight=False, soft_wrap=True)
        console.print(table)
        for host, err in errors.items():
            console.print(Text(f"{visible(host)}: {visible(err)}", style="red"))
    sys.exit(EXIT_UNREACHABLE if errors else EXIT_OK)


# -- logs -------------------------------------------------------------------------------------


@main.command()
@inventory_opt
@vault_opt
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--container", "-c", default=None, help="Only this container (needed without a playbook)."
)
@click.option("--since", default=None, help="As docker logs --since: 10m, 2h, or a time.")
@click.option(
    "--tail", "-n", default=None, type=click.IntRange(0, 1_000_000), help="The last N lines."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines, every host at once.")
@click.option(
    "--grep", "pattern", default=None, help="Only lines matching this regular expression."
)
@extra_opt
@limit_opt
@keys_opt
@handle_errors
def logs(
    inventories: tuple[str, ...],
    playbook: str | None,
    container: str | None,
    since: str | None,
    tail: int | None,
    follow: bool,
    pattern: str | None,
    extra: tuple[str, ...],
    limit: str | None,
    accept_new_host_keys: bool,
) -> None:
    """The logs of the containers on every host, each line prefixed with its host (and
    container); coloured per host on a terminal, plain in a pipe."""
    from deployer.docker.daytwo import logs_script

    if playbook is None and container is None:
        raise ConfigError("logs: give a PLAYBOOK or --container NAME")
    grep = _compile(pattern)
    hosts = targets(inventories, playbook, extra, limit)
    console = Console(highlight=False, soft_wrap=True)
    jobs = [(t, n) for t in hosts for n in names_on(t, container, playbook)]
    if not jobs:
        raise ConfigError("logs: no container to read on the hosts chosen")
    several = len({n for _, n in jobs}) > 1
    colour = {t.conn.name: COLOURS[i % len(COLOURS)] for i, t in enumerate(hosts)}
    lines: queue.Queue[tuple[str, str, str | None]] = queue.Queue(maxsize=10000)
    stop = threading.Event()
    readers = [
        threading.Thread(
            target=_read_logs,
            args=(t.conn, n, logs_script(n, since=since, tail=tail, follow=follow), follow,
                  accept_new_host_keys, lines, stop),
            daemon=True,
        )
        for t, n in jobs
    ]  # fmt: skip
    for r in readers:
        r.start()
    failed = False
    try:
        while any(r.is_alive() for r in readers) or not lines.empty():
            try:
                host, name, line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            prefix = f"{host} {name} | " if several else f"{host} | "
            if line is None:  # the host dropped out: said once, in the stream
                failed = True
                console.print(Text(prefix, style=colour[host]), Text(visible(name), style="red"))
                continue
            if grep is not None and not grep.search(line):
                continue
            if console.is_terminal:
                console.print(Text(prefix, style=colour[host]), Text(visible(line)), sep="")
            else:
                click.echo(prefix + visible(line))
    except KeyboardInterrupt:
        stop.set()
        for r in readers:
            r.join(5)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if len(pattern) > MAX_GREP:
        raise ConfigError(f"--grep: at most {MAX_GREP} characters")
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ConfigError(f"--grep {pattern!r}: not a regular expression: {err}") from None


def _read_logs(
    conn: HostConn,
    name: str,
    script: str,
    follow: bool,
    accept_new: bool,
    out: queue.Queue[tuple[str, str, str | None]],
    stop: threading.Event,
) -> None:
    """One host's one container: its lines into `out`; (host, why, None) if it dropped."""
    e = engine(conn, accept_new)
    try:
        from deployer.remote.ssh import OutputEnd

        chan = e.session.start(script, keep_stdin_open=follow)
        buf, end = b"", OutputEnd()
        while not stop.is_set():
            if chan.recv_ready():
                buf += chan.recv(65536)
                *done, buf = buf.split(b"\n")
                for raw in done:
                    out.put((conn.name, name, raw.decode(errors="replace")))
            elif end.reached(chan, stderr=False):  # its stderr is read at the end
                break
            else:
                time.sleep(0.05)
        if buf:
            out.put((conn.name, name, buf.decode(errors="replace")))
        if stop.is_set():
            chan.shutdown_write()  # the remote follower ends on EOF
            chan.close()
            return
        code = chan.recv_exit_status()
        if code != 0:
            err = chan.recv_stderr(4096).decode(errors="replace").strip()
            out.put(
                (conn.name, f"{name}: logs ended (exit {code}){': ' + err if err else ''}", None)
            )
    except DeployerError as err:
        out.put((conn.name, f"{name}: {err}", None))
    finally:
        e.close()
