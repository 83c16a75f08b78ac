"""What a run shows while it works, on stderr: a live board of the hosts on a terminal, one
plain line per event elsewhere (rich loaded only when needed), and Ctrl-C's first press
turned into "start no new host"."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# rich's own switches for a terminal that isatty() does not see (rich.console.Console)
RICH_TERMINAL_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS")


class Stderr:
    """The run's messages on stderr: rich's Console, made at the first message that needs
    it. A run whose stderr is no terminal (cron, CI, a pipe) prints its progress lines as
    plain text and, unless something goes wrong, never loads rich (~35 ms of CPU)."""

    def __init__(self) -> None:
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    @property
    def plain(self) -> bool:
        """No terminal, as rich would see it: then rich would print the text unstyled."""
        if self._console is not None or any(k in os.environ for k in RICH_TERMINAL_ENV):
            return not self.console.is_terminal
        if sys.stderr is None:
            return True
        try:
            return not sys.stderr.isatty()
        except (AttributeError, ValueError):
            return not self.console.is_terminal

    @property
    def is_terminal(self) -> bool:
        return not self.plain

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.console.print(*args, **kwargs)

    def line(self, text: str) -> None:
        """TEXT (no markup) as one line, as the Console would print it on no terminal."""
        if self.plain:
            if sys.stderr is None:  # closed when the run started: rich printed nowhere too
                return
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        else:
            self.console.print(text, markup=False)


def stderr() -> Stderr:
    return Stderr()


def progress_printer(console: Any) -> Callable[[str, str], None]:
    """One plain line per event, for logs and pipes (terminals get the live board)."""
    start = time.monotonic()
    lock = threading.Lock()
    from deployer.report.safe import visible

    def event(host: str, message: str) -> None:
        if isinstance(console, Stderr) and console.plain:
            with lock:
                console.line(f"{time.monotonic() - start:6.1f}s {visible(host)} {visible(message)}")
            return
        style = (
            "red"
            if ("FAILED" in message or "UNHEALTHY" in message or "UNREACHABLE" in message)
            else "green"
            if "healthy" in message
            else ""
        )
        with lock:
            console.print(
                f"[dim]{time.monotonic() - start:6.1f}s[/dim] [bold]{escape(host)}[/bold] "
                f"[{style}]{escape(message)}[/{style}]"
                if style
                else f"[dim]{time.monotonic() - start:6.1f}s[/dim] [bold]{escape(host)}[/bold] {escape(message)}"
            )

    return event


@contextmanager
def progress(pb: Any, options: Any, console: Stderr) -> Iterator[Any]:
    """On a terminal, a live board of the hosts; otherwise one plain line per event."""
    if not console.is_terminal:
        options.on_event = progress_printer(console)
        yield None
        return
    from rich.live import Live

    from deployer.report.live import Board

    board = Board(list(dict.fromkeys(h.name for play in pb.plays for h in play.hosts)))
    options.on_event = board.event
    with Live(board, console=console.console, refresh_per_second=8, transient=False) as live:
        yield live  # paused while the user is asked something (cli/prune.py)


def escape(text: str) -> str:
    """Host text inside rich markup: control characters shown, `[` starting no style."""
    from deployer.report.safe import markup

    return markup(text)


INTERRUPTED = (
    "interrupted: no new hosts will start; finishing the ones in flight "
    "(Ctrl-C again to abort at once)"
)


@contextmanager
def cancel_on_signals(cancel: threading.Event, console: Any) -> Iterator[None]:
    """First Ctrl-C/SIGTERM: start no new host, finish or roll back what is in flight."""

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if isinstance(console, Stderr) and console.plain:
            console.line(INTERRUPTED)  # no import in a signal handler
        else:
            console.print(f"[bold yellow]{INTERRUPTED}[/bold yellow]")

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
