"""`deployer lab up|status|down`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from deployer.cli import handle_errors, main
from deployer.errors import ConfigError


@main.group()
def lab() -> None:
    """Throw-away real hosts on this machine (root, Linux): sshd + Docker per host, registries."""


def _layout(
    name: str, dir: Path | None, hosts: int | None, light: bool = False
) -> tuple[object, Path]:
    from deployer import lab as labmod

    folder = dir or labmod.DEFAULT_DIR
    layout = labmod.make_layout(name, folder, hosts or 1, light=light)
    if hosts is None:  # down/status: take the size (and kind) recorded by `up`
        state = labmod.load_state(layout)
        count, light = state.get("hosts"), state.get("light") is True
        layout = labmod.make_layout(
            name, folder, count if isinstance(count, int) else 3, light=light
        )
    inventory = (dir / "lab.yml") if dir else labmod.DEFAULT_INVENTORY
    return layout, inventory


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM as Ctrl-C: a KeyboardInterrupt, which the code in flight can clean up after."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


_dir = click.option(
    "--dir",
    "dir_",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the lab's files and its inventory (default: .lab/, "
    "inventory in inventories/lab.yml).",
)
_name = click.option(
    "--name",
    default="lab",
    show_default=True,
    help="Lab name: two labs with different names can run side by side.",
)


@lab.command()
@click.option("--hosts", "-n", default=3, show_default=True, help="Number of web hosts.")
@click.option(
    "--swarm",
    is_flag=True,
    help="Make the web hosts one Docker Swarm (h1 the manager, the others workers).",
)
@click.option(
    "--light",
    is_flag=True,
    help="A simulated fleet (up to 1,000 hosts): each host its own namespace, address, "
    "sshd and state folder, all sharing ONE Docker engine (see the README, A simulated fleet).",
)
@_dir
@_name
@handle_errors
def up(hosts: int, swarm: bool, light: bool, dir_: Path | None, name: str) -> None:
    """Create the lab (first removing whatever an earlier run left; should it fail, it
    removes what it made). Any folder works, one under /tmp too."""
    from deployer import lab as labmod

    if swarm and light:
        raise ConfigError(
            "lab up: --swarm and --light do not go together (light hosts share one engine)"
        )
    layout, inventory = _layout(name, dir_, hosts, light)
    kind = "light hosts sharing one engine" if light else "hosts"
    click.echo(f"bringing up lab {name!r} with {hosts} {kind} ...", err=True)
    with _sigterm_interrupts():  # stopped midway, `up` still removes what it made
        info = labmod.up(layout, inventory, swarm=swarm)  # type: ignore[arg-type]
    for row in labmod.status(info.layout):
        click.echo(f"  {row[0]:<22} {row[1]:<18} {row[2]}")
    if light:
        state = labmod.load_state(info.layout)
        secs, mem = state.get("seconds"), state.get("memory_mb")
        if isinstance(secs, dict) and isinstance(mem, float | int):
            phases = ", ".join(f"{k} {v:.1f}s" for k, v in secs.items())
            click.echo(f"  bring-up: {phases}; the lab's processes: {mem:.0f} MB (PSS)")
    click.echo(f"lab up in {info.seconds:.1f}s; inventory: {info.inventory}")


@lab.command()
@_dir
@_name
@handle_errors
def status(dir_: Path | None, name: str) -> None:
    """Show what of the lab is up."""
    from deployer import lab as labmod

    layout, _ = _layout(name, dir_, None)
    for row in labmod.status(layout):  # type: ignore[arg-type]
        click.echo(f"{row[0]:<22} {row[1]:<18} {row[2]}")


@lab.command()
@_dir
@_name
@handle_errors
def down(dir_: Path | None, name: str) -> None:
    """Remove everything the lab made: processes, namespaces, links, bridge, rules, files."""
    from deployer import lab as labmod
    from deployer.errors import LabError

    layout, inventory = _layout(name, dir_, None)
    left = labmod.down(layout, inventory)  # type: ignore[arg-type]
    if left:
        raise LabError("lab down left behind: " + ", ".join(left))
    click.echo(f"lab {name!r} is down; nothing of it is left.")
