"""Vault in inventory files: whole vaulted files (inventories, group_vars, host_vars) and
`!vault` values (`!vault-encrypted` too, as Ansible), opened while the inventory is read.

A whole vaulted file is decrypted, then read as if it were plain (its problems' lines are
those of its decrypted text, as `ansible-vault view` shows it); every value written in it
is a secret. A `!vault` value becomes a `VaultText`. One that cannot be opened is a
problem at its file, line and key path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from deployer.errors import ConfigError
from deployer.inventory.vault import Encrypted, VaultError, VaultText, is_vaulted
from deployer.inventory.vaultkeys import Vault
from deployer.source.files import decode_text, read_text
from deployer.source.problems import Key, Mark, Problems
from deployer.source.yamlpos import Doc, Tags, load_text

VAULT_TAGS: Tags = {
    "!vault": lambda text, mark: Encrypted(text, mark),
    "!vault-encrypted": lambda text, mark: Encrypted(text, mark),
}


class VaultReader:
    """Reads the files of one inventory, opening what is vaulted with VAULT's passwords."""

    def __init__(self, vault: Vault | None, problems: Problems) -> None:
        self.vault = Vault.from_options(()) if vault is None else vault
        self.problems = problems
        self.files: set[str] = set()  # the files that were vaulted whole
        self._opened: dict[Encrypted, Any] = {}  # by identity: aliases share one value

    def read(self, path: str, what: str) -> str | None:
        """The text of PATH, decrypted if the whole file is vaulted; None after a problem."""
        text = read_text(path, self.problems, what)
        if text is None or not is_vaulted(text):
            return text
        try:
            plain = self.vault.open(text)
        except VaultError as err:
            self.problems.add(path, Mark(1, 1), (), f"cannot decrypt this vaulted {what}: {err}")
            return None
        self.files.add(path)
        return decode_text(plain, path, self.problems, f"decrypted {what}")

    def load(self, path: str, what: str) -> Doc | None:
        """PATH as YAML, decrypted, `!vault` values opened."""
        text = self.read(path, what)
        if text is None:
            return None
        doc = load_text(text, path, self.problems, VAULT_TAGS)
        if doc is not None:
            self.reveal(doc)
        return doc

    def reveal(self, doc: Doc) -> None:
        """Replace every `!vault` value of DOC by its plaintext, in place (positions stay),
        in the order they are written; a container reached twice (an alias) is walked once."""
        if isinstance(doc.data, Encrypted):
            doc.data = self._open(doc.data, doc.file, ())
        seen = {id(doc.data)}
        stack = [_entries(doc.data, ())]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            parent, key, value, path = entry
            if isinstance(key, Encrypted):
                msg = "a !vault value cannot be a mapping key"
                self.problems.add(doc.file, key.mark, path[:-1], msg)
            if isinstance(value, Encrypted):
                parent[key] = self._open(value, doc.file, path)
            elif isinstance(value, dict | list) and id(value) not in seen:
                seen.add(id(value))
                stack.append(_entries(value, path))

    def _open(self, value: Encrypted, file: str, path: tuple[Key, ...]) -> Any:
        if value in self._opened:
            return self._opened[value]
        self._opened[value] = value
        try:
            plain = self.vault.open(value.text)
        except VaultError as err:
            self.problems.add(file, value.mark, path, f"cannot decrypt this !vault value: {err}")
            return value
        try:
            text = VaultText(plain.decode("utf-8"))
        except UnicodeDecodeError:
            msg = "the decrypted !vault value is not UTF-8 text"
            self.problems.add(file, value.mark, path, msg)
            return value
        self._opened[value] = text
        return text

    def report(self) -> None:
        """Add what is wrong with the passwords themselves (once, however often it mattered)."""
        for message in self.vault.problems():
            self.problems.extend(ConfigError(message))


def _entries(
    node: object, path: tuple[Key, ...]
) -> Iterator[tuple[Any, Any, Any, tuple[Key, ...]]]:
    """(container, key, value, key path) of each entry of a mapping or a list."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            yield node, key, value, (*path, str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield node, index, value, (*path, index)
