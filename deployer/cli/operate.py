"""`deployer exec` (a command in a container, on every host or one) and `restart`, `stop`,
`start` (the playbook's containers, batch by batch, locked and audited like a deploy)."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.text import Text

from deployer.cli import handle_errors, main
from deployer.cli.daytwo import Target, engine, names_on, targets
from deployer.cli.options import (
    extra_opt,
    forks_opt,
    inventory_opt,
    keys_opt,
    limit_opt,
    output_opt,
)
from deployer.cli.vaultopt import vault_opt
from deployer.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    ConfigError,
    DeployerError,
)
from deployer.report.safe import visible

# -- exec -------------------------------------------------------------------------------------


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@inventory_opt
@vault_opt
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@click.option("--container", "-c", required=True, help="The container to run in.")
@click.option("--one", is_flag=True, help="Only on the first host where it runs (healthy).")
@click.option(
    "-t",
    "--tty",
    "tty",
    is_flag=True,
    help="An interactive terminal (docker exec -it) on one host; -i stays the inventory.",
)
@extra_opt
@limit_opt
@forks_opt
@keys_opt
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@handle_errors
def exec_(
    inventories: tuple[str, ...],
    playbook: str | None,
    container: str,
    one: bool,
    tty: bool,
    extra: tuple[str, ...],
    limit: str | None,
    forks: int,
    accept_new_host_keys: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND in the container on each host (after `--`), output prefixed per host, each
    host's exit code in the summary. Exit 0 when every host's command exited 0, 3 when one
    did not, 4 when a host could not be reached."""
    from deployer.docker.daytwo import SKIP, exec_script
    from deployer.parallel import each

    hosts = [
        t for t in targets(inventories, playbook, extra, limit) if names_on(t, container, playbook)
    ]
    if not hosts:
        raise ConfigError(f"exec: no host of the selection runs {container!r}")
    if tty:
        if len(hosts) != 1 and not one:
            raise ConfigError("exec -it: one host only (use --limit HOST or --one)")
        sys.exit(_interactive(hosts, container, command, accept_new_host_keys))
    console = Console(highlight=False, soft_wrap=True)

    def run(t: Target, ready_only: bool) -> tuple[int, str, str]:
        e = engine(t.conn, accept_new_host_keys)
        try:
            res = e.session.run(
                exec_script(container, command, only_if_ready=ready_only), timeout=3600
            )
        finally:
            e.close()
        return res.exited, res.stdout, res.stderr

    if one:
        for t in hosts:
            try:
                code, out, err = run(t, True)
            except DeployerError as error:
                console.print(Text(f"{t.conn.name}: {visible(str(error))}", style="red"))
                continue
            if code == SKIP:
                continue
            _print_output(console, t.conn.name, out, err)
            console.print(Text(f"{t.conn.name}: exit {code}", style="bold"))
            sys.exit(EXIT_OK if code == 0 else EXIT_FAILED)
        raise DeployerError(f"exec --one: {container!r} runs (healthy) on none of the hosts")
    done = each(hosts, lambda t: run(t, False), forks)
    codes: dict[str, str] = {}
    for d in done:
        name = d.item.conn.name
        if not d.ok:
            codes[name] = f"unreachable: {d.error}"
            continue
        code, out, err = d.value  # type: ignore[misc]
        _print_output(console, name, out, err)
        codes[name] = f"exit {code}"
    for name, what in codes.items():
        console.print(Text(f"{visible(name)}: {visible(what)}", style="bold"))
    if any(v.startswith("unreachable") for v in codes.values()):
        sys.exit(EXIT_UNREACHABLE)
    sys.exit(EXIT_OK if all(v == "exit 0" for v in codes.values()) else EXIT_FAILED)


def _print_output(console: Console, host: str, out: str, err: str) -> None:
    for line in out.splitlines():
        click.echo(f"{host} | {visible(line)}")
    for line in err.splitlines():
        click.echo(f"{host} ! {visible(line)}", err=True)


def _interactive(
    hosts: list[Target], container: str, command: tuple[str, ...], accept_new: bool
) -> int:
    """A terminal in the container on the first host: the local terminal in raw mode,
    bridged to a pseudo-terminal on the host."""
    import os
    import select
    import shutil
    import termios
    import tty as ttymod

    from deployer.docker.daytwo import exec_tty_argv
    from deployer.remote.ssh import OutputEnd

    if not sys.stdin.isatty():
        raise ConfigError("exec -it needs a terminal")
    e = engine(hosts[0].conn, accept_new)
    try:
        cols, rows = shutil.get_terminal_size()
        chan = e.session.transport.open_session()
        chan.get_pty(term=os.environ.get("TERM", "xterm"), width=cols, height=rows)
        chan.exec_command(exec_tty_argv(container, command))
        saved, end = termios.tcgetattr(sys.stdin), OutputEnd()
        try:
            ttymod.setraw(sys.stdin.fileno())
            while True:
                ready, _, _ = select.select([chan, sys.stdin], [], [], 0.5)
                if chan in ready:
                    data = chan.recv(65536)
                    if not data:
                        break
                    os.write(sys.stdout.fileno(), data)
                if sys.stdin in ready:
                    data = os.read(sys.stdin.fileno(), 4096)
                    if not data:
                        break
                    chan.sendall(data)
                if end.reached(chan):
                    break
        finally:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)
        return int(chan.recv_exit_status())
    finally:
        e.close()


# -- restart / stop / start -------------------------------------------------------------------


def _operation(op: str, help_text: str) -> None:
    from deployer.cli.deploy import _run
    from deployer.cli.options import lock_wait_opt, notify_opt, summary_opt

    @main.command(name=op, help=help_text)
    @click.argument("playbook", type=click.Path())
    @inventory_opt
    @vault_opt
    @click.option("--container", "-c", default=None, help="Only this container of the playbook.")
    @extra_opt
    @limit_opt
    @forks_opt
    @notify_opt
    @lock_wait_opt
    @keys_opt
    @output_opt
    @summary_opt
    @handle_errors
    def command(
        playbook: str,
        inventories: tuple[str, ...],
        container: str | None,
        extra: tuple[str, ...],
        limit: str | None,
        forks: int,
        notify: tuple[str, ...],
        lock_wait: float,
        accept_new_host_keys: bool,
        output: str,
        summary: bool,
    ) -> None:
        _run(
            playbook,
            inventories,
            extra,
            limit,
            output,
            False,
            summary and op != "stop",
            notify=notify,
            operation=op,
            container=container,
            forks=forks,
            lock_wait=lock_wait,
            accept_new_host_keys=accept_new_host_keys,
        )


_operation(
    "restart",
    "Restart the playbook's containers where they run, batch by batch as `serial` says, each "
    "through its health check; locked and audited like a deploy. The version stays.",
)
_operation(
    "stop",
    "Stop the playbook's containers (for maintenance), batch by batch; locked and audited. "
    "`start` brings them back; a deploy starts them too.",
)
_operation(
    "start",
    "Start the playbook's stopped containers, batch by batch, each through its health check; "
    "locked and audited.",
)
