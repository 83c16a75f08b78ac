"""`deployer init`: a new project's inventory, playbook and .gitignore."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli import handle_errors, main
from deployer.errors import ConfigError

# -- init -------------------------------------------------------------------------------------

INIT_INVENTORY = """\
# Your servers, in Ansible's own inventory format (YAML; INI works too).
all:
  vars:
    ansible_user: root
    # ansible_ssh_private_key_file: ~/.ssh/id_ed25519
  children:
    web:
      hosts:
        web1: {ansible_host: 192.0.2.10}
        web2: {ansible_host: 192.0.2.11}
"""

INIT_PLAYBOOK = """\
# The seed's static page: nginx serving a page, behind each host's reverse proxy
# (Caddy, public port 80), health-checked before it takes traffic.
# deployer validate playbooks/app.yml -i inventories/hosts.yml
# deployer deploy   playbooks/app.yml -i inventories/hosts.yml
- name: app
  hosts: web
  serial: [1, "50%"]           # one host first, then half of the rest at a time
  containers:
    - name: app
      image: nginx:1.27        # your image: user/app:tag
      proxy:
        port: 80               # where the app listens inside its container
      env: {APP_ENV: production}
      # secret_env: {DB_PASSWORD: {file: secrets/db_password}}
      health:
        http: {path: /}
        timeout: 60s
"""

INIT_GITIGNORE = """\
# secrets stay out of git (secret_env files, vault password files)
secrets/
*.vault-pass
.vault_pass*
"""


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def init(directory: Path) -> None:
    """Start a project in DIRECTORY: inventories/hosts.yml, playbooks/app.yml and a
    .gitignore for secrets. Refuses to overwrite anything."""
    files = {
        directory / "inventories" / "hosts.yml": INIT_INVENTORY,
        directory / "playbooks" / "app.yml": INIT_PLAYBOOK,
        directory / ".gitignore": INIT_GITIGNORE,
    }
    there = [str(p) for p in files if p.exists()]
    if there:
        raise ConfigError("init: would overwrite " + ", ".join(there) + "; nothing was written")
    for path, text in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x") as f:
                f.write(text)
        except OSError as err:
            raise ConfigError(f"init: cannot write {path}: {err.strerror or err}") from None
        click.echo(f"wrote {path}")
    click.echo(
        f"next: edit {directory / 'inventories' / 'hosts.yml'}, then\n"
        f"  deployer validate {directory / 'playbooks' / 'app.yml'} -i {directory / 'inventories' / 'hosts.yml'}"
    )
