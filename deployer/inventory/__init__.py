"""inventory/: Ansible's inventory as ansible-core reads it -> hosts, groups, their variables
(with where each was written) and how to reach each host, every problem collected.

    load.py       load_inventory(paths, vault) -> Inventory (.match, .host_vars, .shown_vars,
                  .var_origin, .host_conn); -i files, folders, host lists; variable precedence
    formats.py    the YAML and INI formats
    data.py       the graph of groups and hosts, built as Ansible builds it
    hostrange.py  host ranges (`www[01:50].example.com`) and addresses with ports
    patterns.py   host patterns (`webservers:&prod:!atlanta`, `~regex`, `[0:2]`, @file)
    varsfiles.py  group_vars/ and host_vars/ beside a source
    conn.py       the connection variables (ansible_host, ansible_user, ...) -> HostConn
    vault.py      Ansible Vault's envelope and cipher; VaultText, a decrypted value
    vaultkeys.py  Vault: the passwords (--vault-password-file [ID@]FILE, scripts, env)
    vaultfiles.py vaulted files and `!vault` values, opened as the inventory is read

Imports only deployer.source, deployer.template (connection variables may be templates),
the model and the errors; the playbook language (deployer.config) builds on it.
"""

from __future__ import annotations

from deployer.inventory.load import Inventory, load_inventory
from deployer.inventory.vaultkeys import Vault

__all__ = ["Inventory", "Vault", "load_inventory"]
