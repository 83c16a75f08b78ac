from __future__ import annotations

import pytest

from deployer.errors import Unreachable
from deployer.remote.dial import parse_jump


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("root@10.0.0.1", ("root", "10.0.0.1", 22)),
        ("ops@bastion.example.com:2222", ("ops", "bastion.example.com", 2222)),
        ("u@[::1]:2222", ("u", "::1", 2222)),
        ("[fe80::1]", ("", "fe80::1", 22)),
        ("bastion", ("", "bastion", 22)),
    ],
)
def test_parse_jump(spec: str, want: tuple[str, str, int]) -> None:
    assert parse_jump(spec, "h1") == want


@pytest.mark.parametrize(
    "spec", ["u@h:x", "u@h:0", "u@h:70000", "u@", "a,b", "u@[::1]x", "-D1080", "u@-oProxyCommand=x"]
)
def test_bad_jump_is_a_clear_error(spec: str) -> None:
    with pytest.raises(Unreachable, match="h1: (the )?jump host"):
        parse_jump(spec, "h1")


def test_a_chain_of_jump_hosts_says_what_to_set() -> None:
    with pytest.raises(Unreachable, match="chain of jump hosts .* set deployer_ssh_jump"):
        parse_jump("me@gw1,me@gw2:2222", "h1")
