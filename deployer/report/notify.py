"""Notifications: what a run and a health watch tell a team's chat, mail or webhook, sent
through Apprise (one library for Slack, Teams, Discord, Matrix, ntfy, e-mail, JSON
webhooks...; `--notify URL`, or the inventory's `deployer_notify` list).

The messages are built from the run's report and the health verdicts only: host names,
container names, images, outcomes and reasons, which carry no secret value. The URLs
themselves often hold tokens: they are never printed, only their scheme.
A notification that fails is said, and never fails or slows a run past its timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from deployer.engine.outcomes import RunReport
from deployer.errors import ConfigError
from deployer.health.model import HealthReport

TIMEOUT_SECONDS = 10.0
NOTIFY_VAR = "deployer_notify"


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str  # apprise's notify type: info | success | warning | failure


def shown(url: str) -> str:
    """A URL as messages about it show it: its scheme only (the rest may be a token)."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "(not a URL)"


class Notifier:
    """Sends each message to every URL at once, waiting at most `timeout` seconds."""

    def __init__(self, urls: Sequence[str], timeout: float = TIMEOUT_SECONDS):
        self.urls = list(dict.fromkeys(u for u in urls if u))
        self.timeout = timeout
        if not self.urls:  # nothing to send: Apprise (0.15-0.25 s to import) is not loaded
            return
        import logging

        import apprise

        # Apprise logs its failures with the target in them: our own line says it, without
        logging.getLogger("apprise").disabled = True
        self._apprise = apprise.Apprise()
        bad = [shown(u) for u in self.urls if not self._add(u)]
        if bad:
            raise ConfigError(
                f"--notify / {NOTIFY_VAR}: not a notification URL Apprise knows: "
                + ", ".join(bad)
                + " (see https://github.com/caronc/apprise/wiki for the schemes)"
            )

    def _add(self, url: str) -> bool:
        try:
            return bool(self._apprise.add(url))
        except Exception:  # noqa: BLE001 - a URL Apprise chokes on is a bad URL, said as such
            return False

    def send_all(self, messages: Sequence[Message]) -> list[str]:
        """Several messages at once (a watch round where many hosts changed), all within one
        timeout: what went wrong, once per kind of problem."""
        problems: list[str | None] = [None] * len(messages)

        def one(i: int) -> None:
            problems[i] = self.send(messages[i])

        workers = [
            threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(messages))
        ]
        for w in workers:
            w.start()
        deadline = time.monotonic() + self.timeout + 1
        for w in workers:
            w.join(max(0.0, deadline - time.monotonic()))
        late = sum(1 for w in workers if w.is_alive())
        said = [p for p in dict.fromkeys(problems) if p]
        if late:
            said.append(f"{late} notification(s) not delivered within {self.timeout:g}s")
        return said

    def __bool__(self) -> bool:
        return bool(self.urls)

    def send(self, message: Message) -> str | None:
        """None when every URL took it; else what went wrong, without the URLs' secrets."""
        if not self.urls:
            return None
        result: list[bool] = []

        def deliver() -> None:
            try:
                result.append(
                    bool(
                        self._apprise.notify(
                            title=message.title, body=message.body, notify_type=message.kind
                        )
                    )
                )
            except Exception:  # noqa: BLE001 - a notification never breaks a run
                result.append(False)

        worker = threading.Thread(target=deliver, name="deployer-notify", daemon=True)
        worker.start()
        worker.join(self.timeout)
        targets = ", ".join(shown(u) for u in self.urls)
        if worker.is_alive():
            return f"notification to {targets} not delivered within {self.timeout:g}s"
        if not result or not result[0]:
            return f"notification to {targets} failed"
        return None


# -- what a deploy or rollback says ----------------------------------------------------------


def run_started(
    command: str, playbook: str, hosts: Sequence[str], who: str, check: bool
) -> Message:
    what = f"{command} --check" if check else command
    names = ", ".join(hosts[:20]) + (f" and {len(hosts) - 20} more" if len(hosts) > 20 else "")
    return Message(
        f"deployer {what} started: {playbook}",
        f"{who} started `deployer {what} {playbook}` on {len(hosts)} host(s): {names}",
        "info",
    )


def run_finished(command: str, report: RunReport, who: str) -> Message:
    counts = {s: sum(1 for h in report.hosts if h.status == s) for s in _STATUSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no hosts"
    failed = report.exit_code != 0
    lines = [f"{summary}; exit {report.exit_code}; took {report.took:.1f}s; by {who}"]
    if report.run:
        lines.append(f"run {report.run}")
    for h in report.hosts:
        line = f"- {h.name}: {h.status}"
        changed = [
            f"{c.name} {c.action} -> {c.new_image}" if c.new_image else f"{c.name} remove"
            for c in h.containers
            if c.action not in ("noop",) and (c.new_image or c.action == "remove")
        ]
        if changed:
            line += " (" + "; ".join(changed) + ")"
        if h.reason:
            line += f": {h.reason}"
        lines.append(line)
    if report.interrupted:
        lines.append("interrupted: hosts not started were skipped")
    state = "FAILED" if failed else ("ok (check)" if report.check else "ok")
    return Message(
        f"deployer {command} {state}: {report.playbook}",
        "\n".join(lines),
        "failure" if report.exit_code == 3 else "warning" if failed else "success",
    )


_STATUSES = ("changed", "ok", "failed", "unreachable", "skipped")


# -- what a health watch says: a host's verdict changing, once per change --------------------


class VerdictWatch:
    """Remembers each host's verdict between rounds; says what changed."""

    def __init__(self) -> None:
        self.last: dict[str, str] = {}

    def changes(self, report: HealthReport) -> list[Message]:
        out: list[Message] = []
        for h in report.hosts:
            before = self.last.get(h.name)
            self.last[h.name] = h.verdict
            if before is None and h.verdict == "healthy":
                continue  # the first round: only what is wrong is news
            if before == h.verdict:
                continue
            reasons = "; ".join(
                f.text if not f.subject else f"{f.subject}: {f.text}" for f in h.findings
            )
            if h.verdict == "healthy":
                title = f"deployer health: {h.name} recovered"
                body = f"{h.name}: {before} -> healthy at {report.generated_at}"
                kind = "success"
            else:
                title = f"deployer health: {h.name} {h.verdict}"
                body = (
                    f"{h.name}: {before or 'first check'} -> {h.verdict} at {report.generated_at}"
                )
                body += f"\n{reasons}" if reasons else ""
                kind = "failure" if h.verdict in ("unhealthy", "unreachable") else "warning"
            out.append(Message(title, body, kind))
        return out


def urls_from(flags: Sequence[str], host_vars: Sequence[dict[str, object]]) -> list[str]:
    """--notify URLs, then the inventory's `deployer_notify` lists (a string is one URL)."""
    urls = list(flags)
    for hv in host_vars:
        value = hv.get(NOTIFY_VAR)
        if isinstance(value, str):
            urls.append(value)
        elif isinstance(value, list | tuple):
            urls += [str(v) for v in value if v]
        elif value is not None:
            raise ConfigError(f"{NOTIFY_VAR} must be a URL or a list of URLs")
    return list(dict.fromkeys(urls))
