"""`deployer lock status|release` and `deployer audit`: one command per host, in parallel."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from deployer.cli import handle_errors, main
from deployer.cli.options import inventory_opt, keys_opt, limit_opt
from deployer.cli.vaultopt import given_vault, vault_opt
from deployer.errors import EXIT_LOCKED, EXIT_OK, EXIT_UNREACHABLE, DeployerError
from deployer.model import HostConn
from deployer.report.safe import visible


def _hosts(inventories: tuple[str, ...], limit: str | None) -> list[HostConn]:
    from deployer.inventory import load_inventory

    inv = load_inventory(list(inventories), vault=given_vault())
    return [inv.host_conn(n) for n in inv.match(limit or "all")]


def _each(
    hosts: list[HostConn], script: Callable[[HostConn], str], accept_new: bool, forks: int = 20
) -> list[tuple[HostConn, Any]]:
    return _each_session(hosts, lambda s, h: s.run(script(h), timeout=60), accept_new, forks)


@main.group()
def lock() -> None:
    """Inspect or release rollout locks on hosts."""


def _each_session(
    hosts: list[HostConn], fn: Callable[[Any, HostConn], Any], accept_new: bool, forks: int = 20
) -> list[tuple[HostConn, Any]]:
    """fn(session, host) on every host in parallel; a DeployerError comes back as the result."""
    from deployer import parallel
    from deployer.remote.ssh import Session

    def one(h: HostConn) -> Any:
        s = Session(h, accept_new_host_keys=accept_new)
        try:
            return fn(s, h)
        finally:
            s.close()

    done = parallel.each(hosts, one, forks)
    for d in done:  # a bug is still a bug: only our own errors become per-host results
        if d.error is not None and not isinstance(d.error, DeployerError):
            raise d.error
    return [(d.item, d.value if d.ok else d.error) for d in done]


@lock.command("status")
@inventory_opt
@vault_opt
@limit_opt
@keys_opt
@handle_errors
def lock_status(
    inventories: tuple[str, ...], limit: str | None, accept_new_host_keys: bool
) -> None:
    """Who holds a lock on each host, if anyone, and whether that run is still alive."""
    from deployer.engine import locks

    rows = _each_session(_hosts(inventories, limit), locks.read, accept_new_host_keys)
    code = EXIT_OK
    for host, res in rows:
        if isinstance(res, DeployerError):
            click.echo(f"{host.name}: unreachable: {visible(res)}")
            code = EXIT_UNREACHABLE
        else:
            holder, state = res
            guards = locks.guards_text(state)
            if holder is None:
                click.echo(f"{host.name}: free" + (f"; {guards}" if guards else ""))
            else:
                hint = "" if holder.alive or guards else "; `deployer lock release` frees it"
                more = f"; {guards}" if guards else ""
                click.echo(f"{host.name}: LOCKED {visible(holder.describe())}{more}{hint}")
    sys.exit(code)


@lock.command("release")
@inventory_opt
@vault_opt
@limit_opt
@keys_opt
@click.option(
    "--force",
    is_flag=True,
    help="Release a lock even when the run holding it looks alive (it may then clash with the next run).",
)
@handle_errors
def lock_release(
    inventories: tuple[str, ...], limit: str | None, accept_new_host_keys: bool, force: bool
) -> None:
    """Remove a lock left by a run that died. A live run's lock is refused (exit 6) unless --force."""
    from deployer.engine import locks

    def one(s: Any, h: HostConn) -> tuple[str, bool]:
        holder, state = locks.read(s, h)
        if holder is None:
            return "free", True
        if holder.alive and not force:
            return (
                f"REFUSED: held {holder.describe()}; rerun with --force if that run is really gone",
                False,
            )
        guards = locks.guards_text(state)
        if guards and not force:  # the next run would race the guard (it waits for it anyway)
            return f"REFUSED: {guards}; wait for it, or --force", False
        outcome = locks.release(s, h, holder)
        if outcome == "changed":
            return "not released: another run took the lock meanwhile", False
        return f"{outcome} (was held {holder.describe()})", outcome in ("released", "free")

    code = EXIT_OK
    for host, res in _each_session(_hosts(inventories, limit), one, accept_new_host_keys):
        if isinstance(res, DeployerError):
            click.echo(f"{host.name}: FAILED: {visible(res)}")
            code = EXIT_UNREACHABLE
            continue
        text, ok = res
        click.echo(f"{host.name}: {visible(text)}")
        if not ok and code == EXIT_OK:
            code = EXIT_LOCKED
    sys.exit(code)


@main.command()
@inventory_opt
@vault_opt
@limit_opt
@click.option("-n", "--lines", default=20, show_default=True, help="Entries per host.")
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@keys_opt
@handle_errors
def audit(
    inventories: tuple[str, ...],
    limit: str | None,
    lines: int,
    output: str,
    accept_new_host_keys: bool,
) -> None:
    """Recent changes recorded on each host (who, when, what, outcome)."""
    from deployer.docker.commands import audit_tail_script

    rows = _each(
        _hosts(inventories, limit),
        lambda h: audit_tail_script(h.state_dir, lines),
        accept_new_host_keys,
    )
    entries: list[dict[str, Any]] = []
    code = EXIT_OK
    for host, res in rows:
        if isinstance(res, DeployerError):
            click.echo(f"{host.name}: unreachable: {visible(res)}", err=True)
            code = EXIT_UNREACHABLE
            continue
        for line in res.stdout.splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    entries.sort(key=lambda e: str(e.get("time", "")))
    if output == "json":
        click.echo(json.dumps(entries, indent=2))
    else:
        for e in entries:
            line = visible(
                f"{e.get('time')} {e.get('host')} {e.get('container')}: {e.get('action')} "
                f"{e.get('old_image') or '-'} -> {e.get('new_image') or '-'} [{e.get('outcome')}] "
                f"by {e.get('who')}"
            )
            if e.get("privileged") is True:  # the whole host is its: red on a terminal
                line = click.style(f"{line} PRIVILEGED", fg="red", bold=True)
            click.echo(line)
    sys.exit(code)
