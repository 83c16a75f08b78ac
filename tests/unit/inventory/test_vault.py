"""Ansible Vault's cipher (inventory/vault.py) against what ansible-vault wrote, and the
passwords (inventory/vaultkeys.py): files, scripts, pipes, vault ids, bounds."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from deployer.inventory import vaultkeys
from deployer.inventory.vault import (
    DEFAULT_ID,
    Encrypted,
    VaultError,
    VaultPasswordError,
    VaultText,
    decrypt,
    encrypt,
    is_vaulted,
    masked,
    parse_envelope,
)
from deployer.inventory.vaultkeys import Vault, parse_sources, read_password
from deployer.source.problems import Mark

HERE = Path(__file__).parent / "fixtures" / "ansible"
DEFAULT_PW = b"correct horse battery staple"
PROD_PW = b"prod pass"
# vault/NAME as ansible-vault encrypted vault-src/NAME (regen.py), with this password
KNOWN = [
    ("legacy.ini", None, DEFAULT_PW),
    ("group_vars/all/vault.yml", None, DEFAULT_PW),
    ("group_vars/db.yml", "prod", PROD_PW),
    ("host_vars/web1.yml", None, DEFAULT_PW),
]


@pytest.mark.parametrize(("name", "vault_id", "password"), KNOWN)
def test_decrypts_what_ansible_vault_encrypted(
    name: str, vault_id: str | None, password: bytes
) -> None:
    envelope = parse_envelope((HERE / "vault" / name).read_bytes())
    assert envelope.vault_id == (vault_id or DEFAULT_ID)
    assert envelope.version == ("1.2" if vault_id else "1.1")
    assert decrypt(envelope, password) == (HERE / "vault-src" / name).read_bytes()


@pytest.mark.parametrize(("name", "vault_id", "password"), KNOWN)
def test_encrypts_byte_for_byte_as_ansible_vault_with_the_same_salt(
    name: str, vault_id: str | None, password: bytes
) -> None:
    plain = (HERE / "vault-src" / name).read_bytes()
    salt = f"deployer fixture {name}".encode()
    assert encrypt(plain, password, vault_id, salt) == (HERE / "vault" / name).read_text()


def test_a_random_salt_round_trips() -> None:
    text = encrypt("pässwörd ✓\n".encode(), b"pw", "dev")
    assert text.startswith("$ANSIBLE_VAULT;1.2;AES256;dev\n")
    assert all(len(line) <= 80 for line in text.splitlines())
    assert decrypt(parse_envelope(text), b"pw").decode() == "pässwörd ✓\n"


def _tamper(text: str, part: int) -> str:
    """Flip one hex digit of the salt (0), the HMAC (1) or the ciphertext (2)."""
    header, *lines = text.splitlines()
    inner = bytes.fromhex("".join(lines)).split(b"\n", 2)
    hexed = bytearray(inner[part])
    hexed[0] = ord("0") if hexed[0] != ord("0") else ord("1")
    inner[part] = bytes(hexed)
    body = b"\n".join(inner).hex()
    return "\n".join([header, *(body[i : i + 80] for i in range(0, len(body), 80))]) + "\n"


@pytest.mark.parametrize("part", [0, 1, 2], ids=["salt", "hmac", "ciphertext"])
def test_tampered_data_is_refused_before_decrypting(part: int) -> None:
    text = (HERE / "vault" / "host_vars" / "web1.yml").read_text()
    assert decrypt(parse_envelope(text), DEFAULT_PW)  # untouched, it opens
    with pytest.raises(VaultPasswordError, match="HMAC"):
        decrypt(parse_envelope(_tamper(text, part)), DEFAULT_PW)


def test_windows_line_ends_and_spaces_in_the_header_are_read() -> None:
    text = (HERE / "vault" / "group_vars" / "db.yml").read_text()
    text = text.replace("\n", "\r\n").replace(";AES256;prod", "; AES256 ; prod ", 1)
    envelope = parse_envelope(text)
    assert envelope.vault_id == "prod" and decrypt(envelope, PROD_PW).startswith(b"vault_")


def test_a_wrong_password_is_refused() -> None:
    text = (HERE / "vault" / "host_vars" / "web1.yml").read_text()
    with pytest.raises(VaultPasswordError):
        decrypt(parse_envelope(text), b"not the password")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "not vaulted"),
        ("$ANSIBLE_VAULT;1.1\nabcd\n", "lacks a version and a cipher"),
        ("$ANSIBLE_VAULT;1.1;AES\nabcd\n", "cipher 'AES' is not supported"),
        ("$ANSIBLE_VAULT;1.1;AES256\nxyz\n", "not hexadecimal"),
        ("$ANSIBLE_VAULT;1.1;AES256\n" + b"00\n11".hex() + "\n", "lacks its salt"),
    ],
)
def test_a_broken_envelope_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(VaultError, match=message):
        parse_envelope(text)


def test_is_vaulted_is_ansibles_test() -> None:
    assert is_vaulted("$ANSIBLE_VAULT;1.1;AES256\n") and is_vaulted(b"$ANSIBLE_VAULT")
    assert not is_vaulted(" $ANSIBLE_VAULT;1.1;AES256") and not is_vaulted("é")


def test_a_decrypted_value_is_a_str_whose_repr_is_masked() -> None:
    value = VaultText("s3cret")
    assert value == "s3cret" and f"{value}" == "s3cret" and value.upper() == "S3CRET"
    assert "s3cret" not in repr(value) and "s3cret" not in repr({"k": [value]})
    assert masked({"a": [value, 1], "b": Encrypted("x", Mark(1, 1)), "c": "x"}) == {
        "a": ["***", 1],
        "b": "***",
        "c": "x",
    }


# -- passwords --------------------------------------------------------------------------------


def test_sources_from_options_and_environment(tmp_path: Path) -> None:
    odd = tmp_path / "odd@name.txt"
    odd.write_text("pw\n")
    sources, problems = parse_sources(
        ["a.txt", "prod@b.txt", "@c.txt", str(odd), "dev@prompt", "x@"],
        {"ANSIBLE_VAULT_PASSWORD_FILE": "env.txt"},
    )
    assert [(s.vault_id, s.path, s.given) for s in sources] == [
        ("default", "a.txt", "--vault-password-file"),
        ("prod", "b.txt", "--vault-password-file"),
        ("default", "c.txt", "--vault-password-file"),
        ("default", str(odd), "--vault-password-file"),  # a file of that whole name exists
        ("default", "env.txt", "ANSIBLE_VAULT_PASSWORD_FILE"),
    ]
    assert len(problems) == 2 and "never prompts" in problems[0] and "no file" in problems[1]


def test_a_password_file_is_stripped_as_ansible_strips_it(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_bytes(b"  two words \r\n\n")
    assert read_password(vaultkeys.PasswordSource("default", str(path), "t")) == b"two words"
    path.write_text("\n \n")
    with pytest.raises(VaultError, match="empty password"):
        read_password(vaultkeys.PasswordSource("default", str(path), "t"))


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_an_executable_password_file_is_run(tmp_path: Path) -> None:
    path = _script(tmp_path, "pw.sh", "printf 'from script\\r\\n'\n")
    assert read_password(vaultkeys.PasswordSource("default", path, "t")) == b"from script"


def test_a_client_script_is_asked_for_the_vault_id(tmp_path: Path) -> None:
    path = _script(
        tmp_path,
        "keys-client.sh",
        '[ "$2" = prod ] && echo "pw for $1 $2" && exit 0\necho "unknown $2" >&2\nexit 2\n',
    )
    assert read_password(vaultkeys.PasswordSource("prod", path, "t")) == b"pw for --vault-id prod"
    with pytest.raises(VaultError, match="no password for vault id 'dev': unknown dev"):
        read_password(vaultkeys.PasswordSource("dev", path, "t"))


def test_a_failing_script_is_an_error(tmp_path: Path) -> None:
    path = _script(tmp_path, "pw.sh", "exit 3\n")
    with pytest.raises(VaultError, match="exited with code 3"):
        read_password(vaultkeys.PasswordSource("default", path, "t"))


def test_a_script_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vaultkeys, "SCRIPT_TIMEOUT", 0.5)
    path = _script(tmp_path, "pw.sh", "echo partial\nexec sleep 30\n")
    start = time.monotonic()
    with pytest.raises(VaultError, match=r"within 0s|within 1s"):
        read_password(vaultkeys.PasswordSource("default", path, "t"))
    assert time.monotonic() - start < 5


def test_a_script_that_floods_is_stopped(tmp_path: Path) -> None:
    path = _script(tmp_path, "pw.sh", "exec yes\n")
    with pytest.raises(VaultError, match="not a password"):
        read_password(vaultkeys.PasswordSource("default", path, "t"))


def test_a_pipe_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write("piped\n")

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.1)  # the writer is waiting for a reader: `<(pass show vault)` is like this
    try:
        assert read_password(vaultkeys.PasswordSource("default", str(fifo), "t")) == b"piped"
    finally:
        writer.join(5)


def test_a_folder_or_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="folder"):
        read_password(vaultkeys.PasswordSource("default", str(tmp_path), "t"))
    with pytest.raises(VaultError, match="No such file"):
        read_password(vaultkeys.PasswordSource("default", str(tmp_path / "nope"), "t"))


def test_the_vault_tries_its_own_id_first_then_every_password(tmp_path: Path) -> None:
    (tmp_path / "dev").write_text("dev pw\n")
    (tmp_path / "prod").write_text("prod pw\n")
    text = encrypt(b"hello", b"prod pw", "prod")
    vault = Vault.from_options([f"dev@{tmp_path / 'dev'}", f"other@{tmp_path / 'prod'}"], {})
    assert vault.open(text) == b"hello"  # no password has the id 'prod': each is tried
    assert not vault.problems()
    with pytest.raises(VaultPasswordError, match="vault id 'x'; tried"):
        vault.open(encrypt(b"hello", b"third", "x"))


def test_without_passwords_the_error_says_how_to_give_one() -> None:
    with pytest.raises(VaultError, match="--vault-password-file .* ANSIBLE_VAULT_PASSWORD_FILE"):
        Vault.from_options([], {}).open(encrypt(b"x", b"pw"))


def test_a_password_file_that_cannot_be_read_is_a_problem_even_when_unused(
    tmp_path: Path,
) -> None:
    vault = Vault.from_options([str(tmp_path / "missing")], {})
    assert vault.problems() == [f"--vault-password-file {tmp_path / 'missing'}: no such file"]
    with pytest.raises(VaultError, match="no vault password could be read"):
        vault.open(encrypt(b"x", b"pw"))
    assert len(vault.problems()) == 1 and "cannot read" in vault.problems()[0]


def test_passwords_are_read_once_and_never_shown(tmp_path: Path) -> None:
    path = _script(tmp_path, "pw.sh", f"echo run >> {tmp_path / 'runs'}\necho s3cret\n")
    vault = Vault.from_options([path], {})
    for _ in range(3):
        vault.open(encrypt(b"x", b"s3cret"))
    assert (tmp_path / "runs").read_text() == "run\n"
    assert "s3cret" not in repr(vault)
