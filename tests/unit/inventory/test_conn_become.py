"""Ansible's become variables, -e over the inventory, and the play's `become:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.config import load_playbook
from deployer.errors import ConfigError
from deployer.inventory import load_inventory


def _inv(tmp_path: Path, *lines: str) -> str:
    p = tmp_path / "inv.yml"
    body = "".join(f"      {line}\n" for line in lines)
    p.write_text(f"all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n{body}")
    return str(p)


def _book(tmp_path: Path, play: str = "") -> str:
    pb = tmp_path / "pb.yml"
    pb.write_text(f"- hosts: h1\n{play}  containers:\n    - name: web\n      image: nginx\n")
    return str(pb)


def test_no_become_by_default(tmp_path: Path) -> None:
    conn = load_inventory([_inv(tmp_path)]).host_conn("h1")
    assert conn.become is None and conn.user == "root"


@pytest.mark.parametrize("value", ["true", "yes", "'True'", "'on'", "1"])
def test_ansible_become_as_ansible_spells_true(tmp_path: Path, value: str) -> None:
    conn = load_inventory([_inv(tmp_path, f"ansible_become: {value}")]).host_conn("h1")
    assert conn.become is not None
    assert (conn.become.user, conn.become.method, conn.become.password) == ("root", "sudo", None)


def test_password_from_env_user_and_masking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_PW", "sudo pw'1")
    path = _inv(
        tmp_path,
        "ansible_become: true",
        "ansible_become_user: app",
        "deployer_become_password_env: OPS_PW",
    )
    conn = load_inventory([path]).host_conn("h1")
    assert conn.become is not None and conn.become.user == "app"
    assert conn.become.password is not None and conn.become.password.reveal() == "sudo pw'1"
    assert "sudo pw" not in repr(conn)


@pytest.mark.parametrize("var", ["ansible_become_password", "ansible_become_pass"])
def test_inline_password_is_masked(tmp_path: Path, var: str) -> None:
    conn = load_inventory([_inv(tmp_path, "ansible_become: yes", f"{var}: hunter2")]).host_conn(
        "h1"
    )
    assert conn.become is not None and conn.become.password is not None
    assert conn.become.password.reveal() == "hunter2"
    assert "hunter2" not in repr(conn) and "hunter2" not in repr(conn.vars)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("ansible_become: maybe", "must be true or false, got 'maybe'"),
        ("ansible_become_method: su", "'su' is not supported: use sudo"),
        ("ansible_become_user: 'a b'", "must be a user name"),
        ("deployer_become_password_env: NOPE_PW_18", "NOPE_PW_18 is not set"),
    ],
)
def test_bad_become_values_say_where(tmp_path: Path, line: str, says: str) -> None:
    path = (
        _inv(tmp_path, "ansible_become: true", line)
        if "maybe" not in line
        else _inv(tmp_path, line)
    )
    with pytest.raises(ConfigError) as err:
        load_inventory([path]).host_conn("h1")
    text = str(err.value)
    assert f"{path}:" in text and says in text and line.split(":")[0] in text, text


def test_extra_vars_set_the_login_and_become(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_PW", "pw")
    inv = load_inventory([_inv(tmp_path, "ansible_user: root")])
    book = load_playbook(
        _book(tmp_path),
        inv,
        ["ansible_user=ops", "ansible_become=true", "deployer_become_password_env=OPS_PW"],
    )
    conn = book.plays[0].hosts[0]
    assert conn.user == "ops" and conn.become is not None and conn.become.password is not None


def test_a_bad_extra_var_names_the_flag(tmp_path: Path) -> None:
    inv = load_inventory([_inv(tmp_path)])
    with pytest.raises(ConfigError) as err:
        load_playbook(_book(tmp_path), inv, ["ansible_become=perhaps"])
    assert "-e ansible_become" in str(err.value) and "must be true or false" in str(err.value)


def test_play_become_and_the_inventory_that_says_otherwise(tmp_path: Path) -> None:
    pb = _book(tmp_path, "  become: true\n")
    plain = load_playbook(pb, load_inventory([_inv(tmp_path)])).plays[0].hosts[0]
    assert plain.become is not None and plain.become.user == "root"
    (tmp_path / "x").mkdir()
    refused = load_inventory([_inv(tmp_path / "x", "ansible_become: false")])
    assert load_playbook(pb, refused).plays[0].hosts[0].become is None  # variables win


def test_play_become_must_be_a_boolean(tmp_path: Path) -> None:
    pb = _book(tmp_path, "  become: sometimes\n")
    with pytest.raises(ConfigError) as err:
        load_playbook(pb, load_inventory([_inv(tmp_path)]))
    assert f"{pb}:2:" in str(err.value) and "become" in str(err.value), str(err.value)
