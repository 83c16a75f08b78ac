"""Building images for a deploy: the builder engine, and build + push + pin with progress
on stderr. Used by `deployer build` (cli/build.py) and `deploy --build` (cli/deploy.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rich.console import Console

from deployer.errors import BuildError
from deployer.model import Playbook
from deployer.report.safe import markup as _escape

BUILD_SCHEMA = "deployer.build/v1"
BUILDER_VAR = "deployer_builder"


def builder_client(
    inventories: tuple[str, ...], pb: Playbook, accept_new_host_keys: bool
) -> tuple[Any, Callable[[], None], str]:
    """The engine to build on: the inventory's `deployer_builder` host over SSH (the same
    host-key and jump rules), else the controller's own engine. (client, close, where)"""
    from deployer.cli.vaultopt import given_vault
    from deployer.inventory import load_inventory

    inv = load_inventory(list(inventories), vault=given_vault())
    # the play's hosts say first (their vars include -e), then any host of the inventory
    named = [h.vars.get(BUILDER_VAR) for play in pb.plays for h in play.hosts]
    named += [inv.host_vars(h).get(BUILDER_VAR) for h in inv.hosts]
    name = next((str(n) for n in named if n), None)
    if name:
        if name not in inv.hosts:
            raise BuildError(f"{BUILDER_VAR}: {name!r} is not a host of the inventory")
        from deployer.remote.engine_api import api_client
        from deployer.remote.ssh import Session

        session = Session(inv.host_conn(name), accept_new_host_keys=accept_new_host_keys)
        return api_client(session), session.close, f"{name} (over SSH)"
    if not (os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock")):
        raise BuildError(
            f"no engine to build on: set {BUILDER_VAR} to a host of the inventory, or run "
            "where a Docker engine answers (DOCKER_HOST or /var/run/docker.sock)"
        )
    import docker.errors

    from deployer.remote.engine_api import local_client

    try:
        api = local_client()
    except docker.errors.DockerException as err:  # a DOCKER_HOST it cannot read
        raise BuildError(f"this machine's engine: {err}") from None
    return api, api.close, "this machine's engine"


def build_all(
    pb: Playbook, inventories: tuple[str, ...], *, allow_dirty: bool, accept_new_host_keys: bool
) -> tuple[Playbook, list[Any]]:
    """Build and push every image of `pb` that has `build:`; the playbook pinned to the
    digests, and what was built. Progress goes to stderr."""
    from deployer.engine import build as eb

    todo = eb.jobs(pb)
    if not todo:
        return pb, []
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for job in todo:  # tags first: a dirty context is refused before any connection
        eb.tag_of(job, allow_dirty)
    api, close, where = builder_client(inventories, pb, accept_new_host_keys)
    err.print(f"building {len(todo)} image(s) on {_escape(where)}")
    try:
        built = eb.run(
            todo,
            api,
            allow_dirty=allow_dirty,
            on_line=lambda image, line: err.print(f"  {_escape(image)} | {_escape(line)}"),
        )
    finally:
        close()
    for b in built:
        err.print(f"built {_escape(b.image)} {b.digest} in {b.took:.1f}s")
    return eb.pinned(pb, built), built
