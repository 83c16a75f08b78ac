"""The command line: flags -> calls -> render -> exit code.

The only place that prints and the only place that maps errors to exit codes.
Each command group lives in its own module and registers itself on `main`.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import click

from deployer import __version__
from deployer.errors import EXIT_INTERRUPTED, ConfigError, DeployerError

# Command -> the module that defines it. Modules load only when their command runs,
# so `deployer health` does not pay for what `deployer deploy` imports, and back.
LAZY_COMMANDS = {
    "lab": "lab",
    "hosts": "config",
    "validate": "config",
    "deploy": "deploy",
    "rollback": "deploy",
    "lock": "locks",
    "audit": "locks",
    "health": "health",
    "build": "build",
    "runs": "runs",
    "ps": "daytwo",
    "logs": "daytwo",
    "exec": "operate",
    "init": "init",
    "restart": "operate",
    "stop": "operate",
    "start": "operate",
    "swarm": "swarm",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(LAZY_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            importlib.import_module(f"deployer.cli.{LAZY_COMMANDS[cmd_name]}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployer")
def main() -> None:
    """Roll Docker images out to fleets of servers over SSH, and tell how each is doing."""


def run() -> NoReturn:
    """The `deployer` command (and `python -m deployer`): `main`, then `exit_now`."""
    try:
        main.main(prog_name="deployer")
    except SystemExit as done:  # click ends every command with sys.exit, standalone
        exit_now(done.code)
    exit_now(0)  # pragma: no cover - click's standalone mode always raises SystemExit


def exit_now(code: str | int | None) -> NoReturn:
    """Exit with `code` as the interpreter would, without its teardown.

    After the last line of a command, CPython waits for the threads that are not daemons
    and runs the atexit functions (logging's flush, temporary folders' removal, the thread
    pools' joins), then frees every module and object one by one: ~0.1 s of a 1.3 s no-op
    redeploy on this machine, for nothing, since the process ends. This does the first two
    and ends the process. An output that cannot be flushed (a closed pipe) takes the
    ordinary way out, which reports it as before."""
    if code is None:
        code = 0
    shutdown = getattr(threading, "_shutdown", None)  # what Py_Finalize runs first
    exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if not isinstance(code, int) or shutdown is None or exitfuncs is None:
        sys.exit(code)  # a message to print, or another interpreter: the ordinary way
    if not _flushed():
        sys.exit(code)
    shutdown()
    exitfuncs()
    if not _flushed():
        code = code or 1
    os._exit(code)


def _flushed() -> bool:
    """stdout and stderr flushed (one closed at the start, None: nothing to flush)."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True


ERROR_SCHEMA = "deployer.error/v1"


def fail(err: DeployerError, as_json: bool = False) -> None:
    """Print a user-facing error (never a traceback) and exit with its code. Its text may
    come from a host: control characters are shown, never sent to the terminal.

    With `--output json`, the problems are also one JSON document on stdout (a program
    reading stdout gets a document on every exit, not only after a run)."""
    from deployer.report.safe import visible

    if as_json:
        doc = {
            "schema": ERROR_SCHEMA,
            "exit_code": err.exit_code,
            "error": "invalid input" if isinstance(err, ConfigError) else type(err).__name__,
            "problems": err.problems if isinstance(err, ConfigError) else [str(err)],
        }
        click.echo(json.dumps(doc, indent=2))
    if isinstance(err, ConfigError):
        for problem in err.problems:
            click.echo(f"error: {visible(problem, multiline=True)}", err=True)
        n = len(err.problems)
        if n > 1:
            click.echo(f"{n} problems found; nothing was changed on any host.", err=True)
    else:
        click.echo(f"error: {visible(err, multiline=True)}", err=True)
    sys.exit(err.exit_code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for commands: DeployerError -> message + exit code; Ctrl-C -> 130."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DeployerError as err:
            fail(err, as_json=kwargs.get("output") == "json")
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper
