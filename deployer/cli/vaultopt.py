"""`--vault-password-file [ID@]FILE`: the one option for Ansible Vault passwords, on every
command that takes `-i`. It is not passed to the command's function: the command hands
`given_vault()` to `load_inventory(paths, vault=...)` (its helpers too, without a new
argument on each). Reading a password waits until a vaulted value needs one."""

from __future__ import annotations

from typing import Any

import click

_VAULT = "deployer.vault"


def _vault_option(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    from deployer.inventory import Vault

    ctx.meta[_VAULT] = Vault.from_options(value)  # and ANSIBLE_VAULT_PASSWORD_FILE


vault_opt = click.option(
    "--vault-password-file",
    "--vault-id",
    multiple=True,
    metavar="[ID@]FILE",
    expose_value=False,
    callback=_vault_option,
    help="Ansible Vault password file, or an executable printing it; ID@FILE for a vault "
    "id; repeatable. ANSIBLE_VAULT_PASSWORD_FILE is read too.",
)


def given_vault() -> Any:
    """The running command's vault passwords (a deployer.inventory.Vault), else None."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_VAULT)
