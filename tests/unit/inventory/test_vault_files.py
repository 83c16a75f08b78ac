"""Vault while the inventory is read (inventory/vaultfiles.py) and on the command line:
every problem names its file (and line and key for a `!vault` value), exit code 5, and
no secret is ever printed."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.inventory import Vault, load_inventory
from deployer.inventory.vault import VaultText, encrypt
from tests.unit.conftest import has_problem, problems_of

HERE = Path(__file__).parent / "fixtures" / "ansible"
INV = ["-i", "vault/hosts.yml", "-i", "vault/legacy.ini"]
SECRETS = ["smtp pass", "tok-web", "db1 ssh pass", "all-db-pass", "prod-db-pass", "abc123"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output and not isinstance(result.exception, KeyError)
    return result.exit_code, result.output


def _inline(name: str, plaintext: bytes, password: bytes = b"pw", vault_id: str = "") -> str:
    lines = encrypt(plaintext, password, vault_id or None).splitlines()
    return f"{name}: !vault |\n" + "".join(f"  {line}\n" for line in lines)


def test_a_wrong_password_is_exit_5_naming_each_file_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(HERE)
    code, out = _run("hosts", *INV, "--vault-password-file", "vaultpw/wrong.txt")
    assert code == 5
    assert "vault/hosts.yml:7:17: all.vars.smtp.password: cannot decrypt this !vault value" in out
    assert "vault/hosts.yml:38:29: all.children.db.hosts.db1.ansible_password:" in out
    assert "vault/legacy.ini:1:1: (top): cannot decrypt this vaulted inventory" in out
    assert "no vault password given opens it (vault id 'prod'; tried" in out
    assert "--vault-password-file vaultpw/wrong.txt" in out
    assert not [s for s in SECRETS if s in out] and "not the password" not in out


def test_no_password_is_exit_5_saying_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    code, out = _run("hosts", *INV)
    assert code == 5
    assert "vault/legacy.ini:1:1" in out and "no vault password was given" in out
    assert "--vault-password-file [ID@]FILE" in out and "ANSIBLE_VAULT_PASSWORD_FILE" in out


def test_vaulted_group_vars_and_host_vars_with_a_wrong_password_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hosts.ini").write_text("[db]\ndb1\n[web]\nweb1\n")
    for name in ("group_vars/db.yml", "host_vars/web1.yml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(HERE / "vault" / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    code, out = _run(
        "hosts", "-i", "hosts.ini", "--vault-password-file", str(HERE / "vaultpw/default.txt")
    )
    assert code == 5
    assert "group_vars/db.yml:1:1: (top): cannot decrypt this vaulted variables file" in out
    assert "(vault id 'prod'; tried" in out
    assert "host_vars/web1.yml" not in out  # the default password opens that one


def test_the_environment_variable_gives_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", "vaultpw/default.txt")
    code, out = _run("hosts", *INV, "--vault-id", "prod@vaultpw/prod.txt", "web")
    assert (code, out) == (0, "web1\nweb2\n")


def test_a_missing_password_file_is_exit_5_even_without_vaulted_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(HERE)
    code, out = _run("hosts", "-i", "guide.ini", "--vault-password-file", "vaultpw/nope.txt")
    assert code == 5 and "--vault-password-file vaultpw/nope.txt: no such file" in out


@pytest.mark.parametrize(
    "command",
    [
        ["hosts"],
        ["validate", "play.yml"],
        ["lock", "status"],
        ["lock", "release"],
        ["audit"],
        ["health"],
        ["deploy", "play.yml"],
        ["rollback", "play.yml"],
        ["build", "play.yml"],
        ["ps"],
        ["logs", "-c", "app"],
        ["exec", "play.yml", "-c", "app", "--", "true"],
        ["restart", "play.yml"],
        ["stop", "play.yml"],
        ["start", "play.yml"],
    ],
    ids=" ".join,
)
def test_every_command_with_an_inventory_takes_vault_passwords(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    name = command[:2] if command[0] == "lock" else command[:1]
    code, out = _run(*name, "--help")
    assert code == 0 and "--vault-password-file" in out
    # the inventory is read (and refused) before any playbook or connection
    rest = command[len(name) :]
    code, out = _run(*name, *INV, "--vault-password-file", "vaultpw/wrong.txt", *rest)
    assert code == 5 and "vault/legacy.ini:1:1" in out, out


def test_inline_values_in_nested_and_aliased_places(
    write: Callable[[str, str], str], tmp_path: Path
) -> None:
    pw = write("pw.txt", "pw\n")
    text = "all:\n  hosts:\n    h1:\n      nested:\n        list:\n"
    text += textwrap.indent(_inline("- &a", b"first"), "          ").replace(": !vault", " !vault")
    text += "          - *a\n"
    path = write("inv.yml", text)
    inv = load_inventory([path], Vault.from_options([pw], {}))
    value = inv.host_vars("h1")["nested"]["list"]
    assert value == ["first", "first"] and isinstance(value[0], VaultText)
    assert inv.shown_vars("h1")["nested"] == {"list": ["***", "***"]}


def test_a_decrypted_inventory_file_is_read_as_yaml_or_ini(
    write: Callable[[str, str], str],
) -> None:
    pw = write("pw.txt", "pw\n")
    yml = write("secret", encrypt(b"all:\n  hosts:\n    y1:\n      k: v\n", b"pw"))
    ini = write("secret2", encrypt(b"[g]\ni1 k=1\n", b"pw"))
    inv = load_inventory([yml, ini], Vault.from_options([pw], {}))
    assert inv.hosts == ["y1", "i1"] and inv.host_vars("i1") == {"k": 1}
    assert inv.shown_vars("y1") == {"k": "***"}


def test_vault_problems_inside_files(write: Callable[[str, str], str]) -> None:
    pw = write("pw.txt", "pw\n")
    quoted = encrypt(b"k", b"pw").replace("\n", "\\n")
    text = "all:\n  vars:\n"
    text += textwrap.indent(_inline("bad_utf8", b"\xff\xfe"), "    ")
    text += "    tagged_map: !vault {a: 1}\n"
    text += f'    ? !vault "{quoted}"\n    : value\n'
    text += "    broken: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      zz\n"
    text += "  hosts: {h1: }\n"
    path = write("hosts.yml", text)
    problems = problems_of(lambda: load_inventory([path], Vault.from_options([pw], {})))
    assert has_problem(problems, "hosts.yml:3:", "all.vars.bad_utf8", "not UTF-8 text")
    assert has_problem(problems, "hosts.yml:10:17:", "'!vault' applies to a text value only")
    assert has_problem(problems, "hosts.yml:11:", "a !vault value cannot be a mapping key")
    assert has_problem(problems, "all.vars.broken", "vault body is not hexadecimal")


def test_a_vaulted_vars_file_must_decode(write: Callable[[str, str], str]) -> None:
    pw = write("pw.txt", "pw\n")
    write("group_vars/all.yml", encrypt(b"a: \xff\n", b"pw"))
    path = write("hosts.ini", "h1\n")
    problems = problems_of(lambda: load_inventory([path], Vault.from_options([pw], {})))
    assert has_problem(problems, "group_vars/all.yml:1:", "decrypted variables file is not UTF-8")


def test_a_vaulted_connection_password_reaches_the_connection_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(HERE)
    vault = Vault.from_options(["vaultpw/default.txt", "prod@vaultpw/prod.txt"], {})
    conn = load_inventory(["vault/hosts.yml"], vault).host_conn("db1")
    assert conn.password is not None and conn.password.reveal() == "db1 ssh pass"
    assert "db1 ssh pass" not in repr(conn) and "backup pass" not in repr(conn)


def test_only_the_inventory_takes_the_vault_tag() -> None:
    from deployer.source.problems import Problems
    from deployer.source.yamlpos import load_text

    problems = Problems()
    load_text("a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n", "play.yml", problems)
    assert has_problem(problems.messages(), "play.yml:1:4", "unsupported YAML tag '!vault'")
