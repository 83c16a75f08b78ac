"""`deploy --prune-undeclared`: the CLI's side of it. The rollout plans the removals and
calls back before doing any (Options.confirm); here they are listed and the user asked, or,
without a terminal to ask on and without --yes, the run is refused before it starts."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from deployer.engine.removal import Confirm, Removal
from deployer.errors import EXIT_NOT_CONFIRMED
from deployer.report.safe import visible

if TYPE_CHECKING:  # rich loads when there is something to list (a run without: never)
    from rich.table import Table

NO_TERMINAL = (
    "error: --prune-undeclared removes containers and asks first, but there is no terminal "
    "to ask on: give --yes to remove them without asking (--check shows what it would "
    "remove); nothing was changed"
)
DECLINED = "nothing more was changed: the removal of undeclared containers was not confirmed"


def refuse_without_terminal(prune: bool, yes: bool, check: bool, console: Any) -> None:
    """Exit 2 before anything starts when removals could not be confirmed."""
    if prune and not yes and not check and not sys.stdin.isatty():
        console.print(NO_TERMINAL, markup=False)
        sys.exit(EXIT_NOT_CONFIRMED)


def asker(console: Any, live: Any, cancel: threading.Event) -> Confirm:
    """A confirmation that lists the removals (host, container, image) and asks, with the
    live board (if any) paused meanwhile. Ctrl-C, end of input or anything but yes: no."""

    def confirm(removals: Sequence[Removal]) -> bool:
        if live is not None:
            live.stop()
        try:
            console.print(listing(removals))
            answer = click.confirm(
                f"Remove these {len(removals)} containers?", default=False, err=True
            )
        except (click.Abort, EOFError):
            answer = False
        finally:
            if live is not None:
                live.start()
        return answer and not cancel.is_set()

    return confirm


def listing(removals: Sequence[Removal]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="--prune-undeclared: no play of the playbook declares these on their host",
        title_justify="left",
    )
    for col in ("host", "container", "image"):
        table.add_column(col)
    for r in removals:
        table.add_row(Text(visible(r.host)), Text(visible(r.container)), Text(visible(r.image)))
    return table
