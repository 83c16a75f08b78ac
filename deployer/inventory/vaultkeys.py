"""Vault passwords, found as Ansible finds them: `--vault-password-file [ID@]FILE`
(repeatable; ansible's `--vault-id ID@FILE`), then the file ANSIBLE_VAULT_PASSWORD_FILE
names. A password given without an id has the id 'default'.

A password file is read whole and stripped (Ansible: `read().strip()`, then '\\r\\n');
an executable one is run and its output is the password (a name ending in `-client`,
like `vault-client.py`, is asked with `--vault-id ID`, exit code 2 meaning "no such id").
A run is bounded: SCRIPT_TIMEOUT seconds, MAX_OUTPUT bytes; its stdin and (unless a
client script) stderr stay the terminal's, so it may prompt.

Each file is read once, when the first vaulted value needs a password. Unlike Ansible,
which warns about a password file it cannot read, it is an error here. A vaulted text is
tried with the passwords of its own vault id first, then with every other (Ansible's
default, vault_id_match off). Passwords are held in memory only, and never shown.
"""

from __future__ import annotations

import os
import selectors
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deployer.inventory.vault import (
    DEFAULT_ID,
    VaultError,
    VaultPasswordError,
    decrypt,
    is_vaulted,
    parse_envelope,
)

ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
OPTION = "--vault-password-file"
SCRIPT_TIMEOUT = 60.0
MAX_OUTPUT = 64 * 1024
CLIENT_UNKNOWN_ID = 2


@dataclass(frozen=True)
class PasswordSource:
    vault_id: str
    path: str
    given: str  # how it was given: the option or the environment variable

    def __str__(self) -> str:
        where = f"{self.given} {self.path}"
        return where if self.vault_id == DEFAULT_ID else f"{where} (vault id {self.vault_id!r})"


def parse_sources(
    values: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[list[PasswordSource], list[str]]:
    """The password sources of the options and the environment, and what is wrong with them.
    `ID@FILE` names a vault id, unless a file of that whole name exists."""
    sources, problems = [], []
    for value in values:
        vault_id, path = DEFAULT_ID, value
        if "@" in value and not os.path.exists(value):
            vault_id, path = value.split("@", 1)
            vault_id = vault_id or DEFAULT_ID
        if path in ("prompt", "prompt_ask_vault_pass"):
            problems.append(
                f"{OPTION} {value}: deployer never prompts for a vault password; give a file"
                " (or a script that prints it)"
            )
        elif not path:
            problems.append(f"{OPTION} {value!r}: no file after '@' (ID@FILE)")
        else:
            sources.append(PasswordSource(vault_id, os.path.expanduser(path), OPTION))
    env = (os.environ if environ is None else environ).get(ENV)
    if env:
        sources.append(PasswordSource(DEFAULT_ID, os.path.expanduser(env), ENV))
    return sources, problems


class Vault:
    """The passwords given; opens vaulted texts with them."""

    def __init__(self, sources: Sequence[PasswordSource] = (), problems: Sequence[str] = ()):
        self.sources = list(sources)
        self._problems = list(problems)
        self._keys: list[tuple[str, bytes]] | None = None

    @classmethod
    def from_options(cls, values: Sequence[str], environ: Mapping[str, str] | None = None) -> Vault:
        """From `--vault-password-file` values (ID@FILE or FILE) and ANSIBLE_VAULT_PASSWORD_FILE."""
        return cls(*parse_sources(values, environ))

    def __repr__(self) -> str:
        return f"Vault({', '.join(str(s) for s in self.sources) or 'no passwords'})"

    def problems(self) -> list[str]:
        """What is wrong with the passwords given: bad option values, missing files, and the
        files or scripts that failed when read. Never a password."""
        out = list(self._problems)
        if self._keys is None:  # not read yet: a missing file is still worth saying
            for src in self.sources:
                if not os.path.exists(src.path):
                    out.append(f"{src}: no such file")
        return out

    def keys(self) -> list[tuple[str, bytes]]:
        """(vault id, password) of every source that could be read, in the order given."""
        if self._keys is None:
            self._keys = []
            for src in self.sources:
                try:
                    self._keys.append((src.vault_id, read_password(src)))
                except VaultError as err:
                    self._problems.append(str(err))
        return self._keys

    def open(self, text: str | bytes) -> bytes:
        """The plaintext of a vaulted TEXT; VaultError saying why not (no password in it)."""
        envelope = parse_envelope(text)
        keys = self.keys()
        if not keys:
            if self.sources:  # why each could not be read is a problem of its own
                raise VaultError(
                    f"no vault password could be read (vault id {envelope.vault_id!r})"
                )
            raise VaultError(
                f"no vault password was given (vault id {envelope.vault_id!r}):"
                f" use {OPTION} [ID@]FILE (repeatable) or {ENV}"
            )
        own = [k for k in keys if k[0] == envelope.vault_id]
        for _, password in own + [k for k in keys if k[0] != envelope.vault_id]:
            try:
                return decrypt(envelope, password)
            except VaultPasswordError:
                continue
        tried = ", ".join(str(s) for s in self.sources)
        raise VaultPasswordError(
            f"no vault password given opens it (vault id {envelope.vault_id!r}; tried {tried})"
        )


def read_password(src: PasswordSource) -> bytes:
    """The password of one source (a file, or the output of an executable file)."""
    try:
        info = os.stat(src.path)
    except OSError as err:
        raise VaultError(f"{src}: cannot read: {err.strerror or err}") from None
    if stat.S_ISDIR(info.st_mode):
        raise VaultError(f"{src}: is a folder, not a password file")
    if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        password = _from_script(src)
        what = "script printed"
    else:
        password = _from_file(src).strip()
        if is_vaulted(password):
            raise VaultError(f"{src}: a vaulted password file is not supported; decrypt it")
        what = "file holds"
    password = password.strip(b"\r\n")
    if not password:
        raise VaultError(f"{src}: the {what} an empty password")
    return password


def _from_file(src: PasswordSource) -> bytes:
    """A regular file, or a pipe (`<(pass show vault)`), read within the time and size bounds."""
    try:
        fd = os.open(src.path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise VaultError(f"{src}: cannot read: {err.strerror or err}") from None
    with open(fd, "rb", buffering=0) as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            data = fh.read(MAX_OUTPUT + 1)
            if len(data) > MAX_OUTPUT:
                raise VaultError(f"{src}: larger than {MAX_OUTPUT} bytes: not a password file")
            return data
        if not stat.S_ISFIFO(mode):
            raise VaultError(f"{src}: not a regular file or a pipe")
        data = bytearray()
        _drain({fd: data}, time.monotonic() + SCRIPT_TIMEOUT, src)
        return bytes(data)


def _from_script(src: PasswordSource) -> bytes:
    client = os.path.splitext(os.path.basename(src.path))[0].endswith("-client")
    argv = [os.path.abspath(src.path)]  # never looked up in PATH
    argv += ["--vault-id", src.vault_id] if client else []
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE if client else None
        )
    except OSError as err:
        raise VaultError(
            f"{src}: cannot run it ({err.strerror or err}); if it is not a script,"
            " remove its executable bit"
        ) from None
    assert proc.stdout is not None
    stdout, stderr = bytearray(), bytearray()
    streams = {proc.stdout.fileno(): stdout}
    if proc.stderr is not None:
        streams[proc.stderr.fileno()] = stderr
    deadline = time.monotonic() + SCRIPT_TIMEOUT
    try:
        _drain(streams, deadline, src)
        code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise VaultError(
            f"{src}: the script did not end within {SCRIPT_TIMEOUT:.0f}s (the limit)"
        ) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if code == 0:
        return bytes(stdout)
    said = bytes(stderr).decode("utf-8", "replace").strip()[:500]
    said = f": {said}" if said else ""
    if client and code == CLIENT_UNKNOWN_ID:
        raise VaultError(
            f"{src}: the client script has no password for vault id {src.vault_id!r}{said}"
        )
    raise VaultError(f"{src}: the script exited with code {code}{said}")


def _drain(streams: dict[int, bytearray], deadline: float, src: PasswordSource) -> None:
    """Read every fd of STREAMS to its end, by DEADLINE, at most MAX_OUTPUT bytes each."""
    with selectors.DefaultSelector() as sel:
        for fd, buf in streams.items():
            sel.register(fd, selectors.EVENT_READ, buf)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise VaultError(f"{src}: no password within {SCRIPT_TIMEOUT:.0f}s (the limit)")
            for key, _ in sel.select(left):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                key.data.extend(chunk)
                if len(key.data) > MAX_OUTPUT:
                    raise VaultError(f"{src}: more than {MAX_OUTPUT} bytes: not a password")
