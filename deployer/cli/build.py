"""`deployer build`: build, tag and push the images a playbook builds, print their digests.
`deployer deploy --build` runs the same first and deploys the digests (cli/deploy.py)."""

from __future__ import annotations

import json

import click

from deployer.cli import handle_errors, main
from deployer.cli.building import BUILD_SCHEMA, build_all
from deployer.cli.options import (
    extra_opt,
    inventory_opt,
    keys_opt,
    limit_opt,
    output_opt,
)
from deployer.cli.vaultopt import vault_opt


@main.command()
@click.argument("playbook", type=click.Path())
@inventory_opt
@vault_opt
@extra_opt
@limit_opt
@click.option(
    "--allow-dirty", is_flag=True, help="Build a context with uncommitted changes (tag -dirty)."
)
@keys_opt
@output_opt
@handle_errors
def build(
    playbook: str,
    inventories: tuple[str, ...],
    extra: tuple[str, ...],
    limit: str | None,
    allow_dirty: bool,
    accept_new_host_keys: bool,
    output: str,
) -> None:
    """Build every image PLAYBOOK builds, push it, and print its digest."""
    from deployer.cli.deploy import _load

    pb = _load(playbook, inventories, extra, limit)
    _, built = build_all(
        pb, inventories, allow_dirty=allow_dirty, accept_new_host_keys=accept_new_host_keys
    )
    if output == "json":
        doc = {
            "schema": BUILD_SCHEMA,
            "images": [
                {
                    "image": b.image,
                    "digest": b.digest,
                    "ref": b.ref,
                    "image_id": b.image_id,
                    "took": round(b.took, 2),
                    "used_by": list(b.used_by),
                }
                for b in built
            ],
        }
        click.echo(json.dumps(doc, indent=2))
    elif not built:
        click.echo("no container of this playbook has `build:`")
    else:
        for b in built:
            click.echo(b.ref)
