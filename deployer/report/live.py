"""A live board of the hosts of a run, for terminals: one row per host, its latest step."""

from __future__ import annotations

import threading
import time

from rich.table import Table
from rich.text import Text

from deployer.report.safe import visible

BAD = ("FAILED", "UNHEALTHY", "UNREACHABLE")


class Board:
    """Receives engine events (host, message) from many threads; renders as a rich table."""

    def __init__(self, hosts: list[str]):
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.rows: dict[str, tuple[float, str]] = {h: (0.0, "waiting") for h in hosts}

    def event(self, host: str, message: str) -> None:
        with self.lock:
            self.rows[host] = (time.monotonic() - self.start, message)

    def __rich__(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("host", no_wrap=True)
        table.add_column("at", justify="right", no_wrap=True)
        table.add_column("step", overflow="ellipsis", no_wrap=True)
        with self.lock:
            rows = list(self.rows.items())
        for host, (at, message) in rows:
            style = (
                "red"
                if any(b in message for b in BAD)
                else "green"
                if "healthy (" in message or message.startswith("plan") and "noop" in message
                else ""
            )
            table.add_row(Text(visible(host)), f"{at:5.1f}s", Text(visible(message), style=style))
        elapsed = time.monotonic() - self.start
        table.caption = f"{elapsed:.1f}s, Ctrl-C: finish the hosts in flight and stop"
        return table
