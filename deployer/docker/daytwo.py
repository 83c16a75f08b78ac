"""Scripts for day-two operations across the fleet (`logs`, `exec`, `ps`): pure builders,
argv through the one quoting function."""

from __future__ import annotations

from collections.abc import Sequence

from deployer.docker.facts import facts_lines
from deployer.docker.shell import sh

SKIP = 125  # exec --one: this host's container is not running (healthy): try the next


def ps_script() -> str:
    """Every deployer-managed container of the host, one JSON line each (facts.py's format)."""
    return "\n".join(facts_lines()) + "\n"


def logs_script(name: str, *, since: str | None, tail: int | None, follow: bool) -> str:
    """The container's log (stdout and stderr, merged). Following, it ends when the
    controller closes its side (Ctrl-C, a lost connection): nothing is left running."""
    argv = ["docker", "logs"]
    if since:
        argv += ["--since", since]
    if tail is not None:
        argv += ["--tail", str(tail)]
    if not follow:
        return f"{sh([*argv, name])} 2>&1\n"
    return (
        f"{sh([*argv, '--follow', name])} 2>&1 & p=$!\n"
        # stdin is the controller: its end (EOF) stops the follower; this watcher writes
        # nothing, so the command ends as soon as the follower does (the container gone)
        '(read -r _; kill "$p" 2>/dev/null) <&0 >/dev/null 2>&1 &\n'
        'wait "$p"\n'
    )


def exec_script(name: str, command: Sequence[str], *, only_if_ready: bool = False) -> str:
    """`docker exec` in the container; only_if_ready: exit SKIP unless it runs (and is
    healthy, when it has a health check) — `exec --one` then tries the next host."""
    lines = []
    if only_if_ready:
        fmt = "{{.State.Running}}{{if .State.Health}} {{.State.Health.Status}}{{end}}"
        lines.append(
            f'case "$(docker inspect --format {sh([fmt])} {sh([name])} 2>/dev/null)" in '
            f"'true'|'true healthy') ;; *) exit {SKIP};; esac"
        )
    lines.append(sh(["docker", "exec", "-i", name, *command]))
    return "\n".join(lines) + "\n"


def exec_tty_argv(name: str, command: Sequence[str]) -> str:
    """The interactive form (`exec -it` on one host), run on a pseudo-terminal."""
    return sh(["docker", "exec", "-it", name, *command])


def operate_script(op: str, container_id: str, stop_timeout: int) -> str:
    """restart / stop / start one container by id; restart and start print its address."""
    from deployer.docker.facts import addr_line

    if op == "stop":
        return sh(["docker", "stop", "-t", str(stop_timeout), container_id]) + " >/dev/null\n"
    if op == "restart":
        first = sh(["docker", "restart", "-t", str(stop_timeout), container_id])
    else:
        first = sh(["docker", "start", container_id])
    return f"{first} >/dev/null || exit 1\n{addr_line(container_id)}\n"
