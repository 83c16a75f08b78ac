"""The command-line options the commands share (`-i`, `-e`, `--limit`, `--forks`...)."""

from __future__ import annotations

import click

inventory_opt = click.option(
    "-i",
    "--inventory",
    "inventories",
    multiple=True,
    required=True,
    help="Inventory file or folder (Ansible YAML or INI); repeatable.",
)
# With every -i goes vault_opt (cli/vaultopt.py: building.py cannot import this module).
extra_opt = click.option(
    "-e",
    "--extra-vars",
    "extra",
    multiple=True,
    help="key=value or @file.yml; repeatable; highest precedence.",
)
limit_opt = click.option(
    "--limit", "-l", default=None, help="Ansible host pattern to narrow the hosts."
)
forks_opt = click.option(
    "--forks",
    "-f",
    default=20,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Hosts worked on at once.",
)
keys_opt = click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="Trust and record unknown host keys (a changed key is always refused).",
)
lock_wait_opt = click.option(
    "--lock-wait",
    default=0.0,
    type=click.FloatRange(0, 86400),
    metavar="SECONDS",
    help="Wait this long for another run's lock instead of failing at once (exit 6).",
)
summary_opt = click.option(
    "--summary/--no-summary",
    default=True,
    show_default=True,
    help="End with the health report of the hosts the run touched.",
)
notify_opt = click.option(
    "--notify",
    "notify",
    multiple=True,
    metavar="URL",
    envvar="DEPLOYER_NOTIFY",  # URLs hold tokens: from the environment, off the command line
    help="Send the run's start and end to this Apprise URL (json://, slack://, mailto://, "
    "ntfy://...); repeatable; also $DEPLOYER_NOTIFY (space-separated URLs, kept out of ps) "
    "and the inventory's deployer_notify.",
)
output_opt = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
