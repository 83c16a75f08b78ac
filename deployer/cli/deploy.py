"""`deployer deploy` and `rollback`: the run, its local history (runs), and its progress
(cli/progress.py) with the options every command shares (cli/options.py)."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from deployer.cli import handle_errors, main
from deployer.cli.options import (
    extra_opt,
    forks_opt,
    inventory_opt,
    keys_opt,
    limit_opt,
    lock_wait_opt,
    notify_opt,
    output_opt,
    summary_opt,
)
from deployer.cli.progress import cancel_on_signals, escape, progress, progress_printer, stderr
from deployer.cli.vaultopt import given_vault, vault_opt
from deployer.errors import ConfigError, DeployerError
from deployer.model import HostConn

RUNS_MAX_BYTES = 20 << 20  # the local run history's bound


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "deployer"


def record_run(data: dict[str, Any]) -> None:
    """Append the run to the local record (no secret values are ever in a report)."""
    try:
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "runs.jsonl"
        with open(folder / ".runs.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two runs ending at once: one trims, one appends
            if path.exists() and path.stat().st_size > RUNS_MAX_BYTES:  # keep the newer half
                lines = path.read_text().splitlines(keepends=True)
                fd, name = tempfile.mkstemp(prefix=".runs.", dir=folder)
                os.close(fd)
                fresh = Path(name)
                try:
                    fresh.write_text("".join(lines[len(lines) // 2 :]))
                    os.replace(fresh, path)  # a crash never leaves half a history
                finally:
                    fresh.unlink(missing_ok=True)
            with open(path, "a") as f:
                f.write(json.dumps(data, sort_keys=True) + "\n")
    except OSError:
        pass


def _host_names(pb: Any) -> list[str]:
    return list(dict.fromkeys(h.name for play in pb.plays for h in play.hosts))


def _notifier(pb: Any, flags: tuple[str, ...]) -> Any:
    from deployer.report.notify import Notifier, urls_from

    return Notifier(urls_from(flags, [h.vars for play in pb.plays for h in play.hosts]))


def _notify(notifier: Any, message: Any) -> None:
    """Send; a failure is a warning on stderr, never the run's failure."""
    problem = notifier.send(message)
    if problem:
        stderr().print(f"[yellow]warning: {escape(problem)}[/yellow]")


def _load(
    playbook: str, inventories: tuple[str, ...], extra: tuple[str, ...], limit: str | None
) -> Any:
    from deployer.config import load_playbook, parse_extra_vars
    from deployer.health.gather import with_vars
    from deployer.inventory import load_inventory

    inv = load_inventory(list(inventories), vault=given_vault())
    return with_vars(
        load_playbook(playbook, inv, list(extra), limit), parse_extra_vars(list(extra))
    )


def _touched_health(pb: Any, report: Any, engines: dict[str, Any]) -> Any:
    """The health report of the hosts this run changed or failed, on the same connections."""
    import dataclasses

    from deployer.health.gather import gather

    touched = {h.name for h in report.hosts if h.status in ("changed", "failed")}
    if not touched or report.check or report.locked:
        return None
    plays = tuple(
        dataclasses.replace(p, hosts=tuple(h for h in p.hosts if h.name in touched))
        for p in pb.plays
    )
    try:
        return gather([], dataclasses.replace(pb, plays=plays), engines=engines)
    except DeployerError as err:  # the rollout's own report matters more: keep it
        stderr().print(f"[yellow]no health summary: {escape(str(err))}[/yellow]")
        return None


def _run(
    playbook: str,
    inventories: tuple[str, ...],
    extra: tuple[str, ...],
    limit: str | None,
    output: str,
    diff: bool,
    summary: bool = True,
    build: bool = False,
    allow_dirty: bool = False,
    notify: tuple[str, ...] = (),
    yes: bool = False,
    **opts: Any,
) -> None:
    from deployer.cli import prune
    from deployer.engine.rollout import Options, Rollout, who
    from deployer.report import notify as notes
    from deployer.targets.ssh import SshEngine

    prune.refuse_without_terminal(
        bool(opts.get("prune_undeclared")), yes, bool(opts.get("check")), stderr()
    )
    pb = _load(playbook, inventories, extra, limit)
    # every input error before anything is built, pushed or touched
    if any(p.target == "swarm" for p in pb.plays):
        from deployer.cli.swarm import check_plays

        check_plays(pb, opts)
    if summary:  # bad health thresholds are input errors: say so before touching any host
        from deployer.health.gather import thresholds_for

        thresholds_for([h for play in pb.plays for h in play.hosts])
    notifier = _notifier(pb, notify)
    if build and opts.get("check"):
        stderr().print(
            "--check: nothing is built; the images are checked as the playbook names them"
        )
    elif build:  # a failed build raises: nothing is deployed
        from deployer.cli.building import build_all

        pb, _ = build_all(
            pb,
            inventories,
            allow_dirty=allow_dirty,
            accept_new_host_keys=bool(opts.get("accept_new_host_keys")),
        )
    if any(p.target == "swarm" for p in pb.plays):  # services through a manager: cli/swarm.py
        from deployer.cli import swarm

        swarm.deploy(
            pb, output, diff, opts, _match_all(inventories), progress_printer(stderr()), record_run
        )
        return
    err = stderr()
    options = Options(**opts)
    engines: dict[str, SshEngine] = {}

    def connect(conn: HostConn) -> SshEngine:
        engines[conn.name] = SshEngine(conn, accept_new_host_keys=options.accept_new_host_keys)
        return engines[conn.name]

    rollout = Rollout(pb, options, connect)
    command = options.operation or ("rollback" if options.rollback else "deploy")
    if notifier:
        _notify(
            notifier, notes.run_started(command, pb.path, _host_names(pb), who(), options.check)
        )
    health = None
    try:
        with cancel_on_signals(options.cancel, err), progress(pb, options, err) as live:
            if options.prune_undeclared and not yes:
                options.confirm = prune.asker(err, live, options.cancel)
            report = rollout.run()
        if summary and not report.interrupted:
            health = _touched_health(pb, report, dict(engines))
    finally:
        for e in engines.values():
            e.close()
    data = report.to_json()
    record_run(data | {"command": command})
    if notifier:
        _notify(notifier, notes.run_finished(command, report, who()))
    if output == "json":
        if health is not None:
            data["health"] = health.to_dict()
        click.echo(json.dumps(data, indent=2))
    else:
        from rich.console import Console

        from deployer.report.run_text import render

        out = Console(highlight=False, soft_wrap=True)
        render(report, out, diff=diff or options.check)
        if health is not None:
            from deployer.report import health_text

            out.print("\nhealth of the hosts this run touched:")
            click.echo(health_text.render(health, color=out.is_terminal), nl=False)
    if report.declined:
        err.print(prune.DECLINED, markup=False)
    if report.locked:
        for h in report.hosts:
            if h.reason.startswith("locked by"):
                err.print(
                    f"error: {escape(h.name)}: {escape(h.reason)}; see `deployer lock status`"
                )
    sys.exit(report.exit_code)


@main.command()
@click.argument("playbook", type=click.Path())
@inventory_opt
@vault_opt
@extra_opt
@limit_opt
@click.option("--check", is_flag=True, help="Say what would happen; change nothing, pull nothing.")
@click.option("--diff", is_flag=True, help="Show which fields change (secret values never).")
@forks_opt
@click.option("--force", is_flag=True, help="Replace containers even when nothing changed.")
@click.option(
    "--build",
    "build_first",
    is_flag=True,
    help="Build and push the images with `build:` first; deploy their digests.",
)
@click.option(
    "--allow-dirty", is_flag=True, help="With --build: build uncommitted changes (tag -dirty)."
)
@click.option(
    "--prune-undeclared",
    is_flag=True,
    help="Also remove the deployer-managed containers (and their retained versions) that no "
    "play declares for their host; lists them and asks first.",
)
@click.option("--yes", "-y", is_flag=True, help="With --prune-undeclared: remove without asking.")
@notify_opt
@lock_wait_opt
@keys_opt
@output_opt
@summary_opt
@handle_errors
def deploy(
    playbook: str,
    inventories: tuple[str, ...],
    extra: tuple[str, ...],
    limit: str | None,
    check: bool,
    diff: bool,
    forks: int,
    force: bool,
    build_first: bool,
    allow_dirty: bool,
    prune_undeclared: bool,
    yes: bool,
    notify: tuple[str, ...],
    lock_wait: float,
    accept_new_host_keys: bool,
    output: str,
    summary: bool,
) -> None:
    """Make every targeted host run what PLAYBOOK says, health-gated, rolling back failures."""
    _run(
        playbook,
        inventories,
        extra,
        limit,
        output,
        diff,
        summary,
        build=build_first,
        allow_dirty=allow_dirty,
        notify=notify,
        yes=yes,
        prune_undeclared=prune_undeclared,
        check=check,
        force=force,
        forks=forks,
        lock_wait=lock_wait,
        accept_new_host_keys=accept_new_host_keys,
    )


@main.command()
@click.argument("playbook", type=click.Path())
@inventory_opt
@vault_opt
@extra_opt
@limit_opt
@click.option(
    "--to",
    "to",
    default=None,
    metavar="VERSION",
    help="The retained version to bring back: image tag, image reference or container id.",
)
@forks_opt
@notify_opt
@lock_wait_opt
@keys_opt
@output_opt
@summary_opt
@handle_errors
def rollback(
    playbook: str,
    inventories: tuple[str, ...],
    extra: tuple[str, ...],
    limit: str | None,
    to: str | None,
    forks: int,
    notify: tuple[str, ...],
    lock_wait: float,
    accept_new_host_keys: bool,
    output: str,
    summary: bool,
) -> None:
    """Bring back the previous retained version (or --to VERSION), through the health gate.

    A host with no retained version (matching --to) fails, changing nothing."""
    if to is not None and len(to.strip()) < 1:
        raise ConfigError("--to: empty; name a tag, an image reference or a container id")
    _run(
        playbook,
        inventories,
        extra,
        limit,
        output,
        False,
        summary,
        notify=notify,
        rollback=True,
        to=to,
        forks=forks,
        lock_wait=lock_wait,
        accept_new_host_keys=accept_new_host_keys,
    )


def _match_all(inventories: tuple[str, ...]) -> list[HostConn]:
    """Every inventory host: a swarm report names nodes by their inventory names."""
    from deployer.cli.selection import select

    return select(inventories, None, (), None)[0]
