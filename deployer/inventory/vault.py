"""Ansible Vault: the envelope and its cipher, as ansible-core 2.18 reads and writes them
(ansible/parsing/vault/__init__.py), with the `cryptography` package; ansible is never
imported.

    $ANSIBLE_VAULT;1.1;AES256            (1.2 adds ;VAULT_ID)
    hex( hex(salt) \\n hex(hmac) \\n hex(ciphertext) ), in lines of 80

The key is PBKDF2-HMAC-SHA256 of the password (10000 rounds, the salt) -> 80 bytes: the
AES-256 key, the HMAC-SHA256 key, the CTR nonce. The HMAC covers the ciphertext and is
checked (in constant time) before anything is decrypted; the plaintext is PKCS7-padded.

Also here: what a decrypted value is once loaded (`VaultText`, a `str` whose repr is
masked), the `!vault` value before it is decrypted (`Encrypted`), and `masked()`.
"""

from __future__ import annotations

import binascii
import os
from dataclasses import dataclass
from typing import Any

from deployer.source.problems import Mark

# `cryptography` is imported by the functions that use it: an inventory without vault
# does not pay for it.

HEADER = "$ANSIBLE_VAULT"
CIPHER = "AES256"
DEFAULT_ID = "default"  # the vault id of a 1.1 envelope, and of a password given without one
ITERATIONS = 10_000
KEY_BYTES, IV_BYTES = 32, 16
LINE = 80
MASK = "***"


class VaultError(ValueError):
    """Vaulted data that cannot be read: bad envelope, or no password opens it."""


class VaultPasswordError(VaultError):
    """The envelope is sound but the password does not open it (its HMAC differs)."""


@dataclass(frozen=True)
class Envelope:
    version: str
    cipher: str
    vault_id: str  # DEFAULT_ID when the header names none
    salt: bytes
    hmac: bytes
    ciphertext: bytes


def is_vaulted(data: str | bytes) -> bool:
    """Ansible's test: the text starts with `$ANSIBLE_VAULT` (no space before it)."""
    head = data[: len(HEADER)]
    return (head.encode("ascii", "replace") if isinstance(head, str) else head) == HEADER.encode()


def _unhex(data: bytes, what: str) -> bytes:
    try:
        return binascii.unhexlify(data)
    except (binascii.Error, ValueError) as err:
        raise VaultError(f"vault {what} is not hexadecimal ({err})") from None


def parse_envelope(text: str | bytes) -> Envelope:
    """The parts of a vaulted text; VaultError if it is not one Ansible could read."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if not is_vaulted(data):
        raise VaultError(f"not vaulted data (it does not start with {HEADER})")
    lines = data.splitlines()
    header = [part.strip().decode("utf-8", "replace") for part in lines[0].strip().split(b";")]
    if len(header) < 3:
        first = lines[0][:80].decode("utf-8", "replace")
        raise VaultError(f"vault header {first!r} lacks a version and a cipher")
    if header[2] != CIPHER:
        raise VaultError(f"vault cipher {header[2]!r} is not supported (only {CIPHER})")
    vault_id = header[3] if len(header) >= 4 and header[3] else DEFAULT_ID
    parts = _unhex(b"".join(lines[1:]), "body").split(b"\n", 2)
    if len(parts) != 3:
        raise VaultError("vault body lacks its salt, HMAC or ciphertext")
    salt, mac, body = parts
    return Envelope(
        version=header[1],
        cipher=header[2],
        vault_id=vault_id,
        salt=_unhex(salt, "salt"),
        hmac=_unhex(mac, "HMAC"),
        ciphertext=_unhex(body, "ciphertext"),
    )


def _keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=2 * KEY_BYTES + IV_BYTES,
        salt=salt,
        iterations=ITERATIONS,
    )
    key = kdf.derive(password)
    return key[:KEY_BYTES], key[KEY_BYTES : 2 * KEY_BYTES], key[2 * KEY_BYTES :]


def decrypt(envelope: Envelope, password: bytes) -> bytes:
    """The plaintext; VaultPasswordError if PASSWORD is not the one (HMAC checked first)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    aes_key, mac_key, iv = _keys(password, envelope.salt)
    mac = HMAC(mac_key, hashes.SHA256())
    mac.update(envelope.ciphertext)
    try:
        mac.verify(envelope.hmac)  # constant time
    except InvalidSignature:
        raise VaultPasswordError("the password does not open it (HMAC mismatch)") from None
    clear = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).decryptor()
    padded = clear.update(envelope.ciphertext) + clear.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultError("vault plaintext has a bad padding") from None


def encrypt(
    plaintext: bytes, password: bytes, vault_id: str | None = None, salt: bytes | None = None
) -> str:
    """The envelope ansible-vault writes (1.2 with a vault id other than 'default').
    With the same SALT (ANSIBLE_VAULT_ENCRYPT_SALT) it is the same text, byte for byte."""
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC

    salt = os.urandom(32) if salt is None else salt
    aes_key, mac_key, iv = _keys(password, salt)
    padder = padding.PKCS7(128).padder()
    seal = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).encryptor()
    body = seal.update(padder.update(plaintext) + padder.finalize()) + seal.finalize()
    mac = HMAC(mac_key, hashes.SHA256())
    mac.update(body)
    inner = b"\n".join(
        [binascii.hexlify(salt), binascii.hexlify(mac.finalize()), binascii.hexlify(body)]
    )
    hexed = binascii.hexlify(inner).decode("ascii")
    header = f"{HEADER};1.1;{CIPHER}"
    if vault_id and vault_id != DEFAULT_ID:
        header = f"{HEADER};1.2;{CIPHER};{vault_id}"
    return "\n".join([header, *(hexed[i : i + LINE] for i in range(0, len(hexed), LINE)), ""])


class VaultText(str):
    """A decrypted value: a str for every use (templates, connections), but its repr is
    masked, so a log line or an error message showing it with !r shows no secret."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<vaulted>"


@dataclass(frozen=True, eq=False)
class Encrypted:
    """A `!vault` value as loaded, before it is decrypted; where it was written."""

    text: str
    mark: Mark

    def __repr__(self) -> str:
        return f"<!vault at line {self.mark.line}>"


def masked(value: Any) -> Any:
    """VALUE with every decrypted (or still encrypted) string in it replaced by '***'."""
    if isinstance(value, VaultText | Encrypted):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value
