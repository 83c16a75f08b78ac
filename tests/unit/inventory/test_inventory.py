from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deployer.inventory import load_inventory
from deployer.inventory.hostrange import expand_range
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]


def test_ranges_expand_like_ansible() -> None:
    assert expand_range("www[01:03].example.com") == [f"www0{i}.example.com" for i in (1, 2, 3)]
    assert expand_range("db-[a:c]") == ["db-a", "db-b", "db-c"]
    assert expand_range("x[1:5:2]-[a:b]") == ["x1-a", "x1-b", "x3-a", "x3-b", "x5-a", "x5-b"]
    with pytest.raises(ValueError, match="same width"):
        expand_range("www[01:100]")
    with pytest.raises(ValueError, match="more than"):
        expand_range("h[1:100000000]")


def test_ini_problems_have_file_line_column(write: Write) -> None:
    path = write(
        "inv.ini",
        """
        [web]
        h1 ansible_port
        h[1:x]

        [web:varz]
        a=1

        [db:vars]
        b=2

        [all:children]
        ghost
        """,
    )
    problems = problems_of(lambda: load_inventory([path]))
    assert has_problem(problems, f"{path}:2:1: [web]: expected key=value", "'ansible_port'")
    assert has_problem(problems, f"{path}:3:1: [web]:", "neither numeric nor a-z")
    assert has_problem(
        problems, f"{path}:5:1:", "unknown section type 'varz' (did you mean 'vars'?)"
    )
    assert has_problem(
        problems, f"{path}:8:1:", "[db:vars] is for group 'db', which is never defined"
    )
    assert has_problem(problems, f"{path}:12:1:", "names group 'ghost', which is never defined")


def test_yaml_problems_have_position_and_did_you_mean(write: Write) -> None:
    path = write(
        "inv.yml",
        """
        all:
          host:
            h1:
          children:
            web:
              hosts: [h2]
            db:
              hosts:
                5:
        """,
    )
    problems = problems_of(lambda: load_inventory([path]))
    assert has_problem(
        problems, f"{path}:2:3: all.host: unknown key 'host'", "(did you mean 'hosts'?)"
    )
    assert has_problem(problems, f"{path}:6:14: all.children.web.hosts: must be a mapping")
    assert has_problem(problems, f"{path}:9:9:", "host name 5 must be a string; quote it")


def test_group_cycle_is_a_problem(write: Write) -> None:
    path = write("inv.ini", "[a:children]\nb\n[b:children]\na\n[a]\n[b]\nh1\n")
    assert has_problem(problems_of(lambda: load_inventory([path])), "makes a loop")


def test_missing_inventory_and_bad_bytes(write: Write, tmp_path: Path) -> None:
    (tmp_path / "bin.ini").write_bytes(b"[web]\nh1\xff\n")
    problems = problems_of(lambda: load_inventory(["/nope.yml", str(tmp_path / "bin.ini")]))
    assert problems[0] == "/nope.yml:1:1: (top): inventory not found"
    assert has_problem(problems, "bin.ini:2:3:", "not UTF-8")


def test_pattern_matching_nothing_is_an_error(write: Write) -> None:
    inv = load_inventory([write("inv.ini", "[web]\nh1\nh2\n[db]\nd1\n")])
    assert inv.match("web:!h1") == ["h2"]
    for pattern, text in [
        ("webz", "'webz' matches no group or host (did you mean 'web'?)"),
        ("web:!wbe", "'wbe' matches no group or host"),
        ("web:&db", "host pattern 'web:&db' matches no hosts"),
        ("web[5]", "index 5 is out of range"),
        ("~(", "not a valid pattern"),
    ]:
        assert has_problem(problems_of(lambda p=pattern: inv.match(p)), text), pattern
    assert has_problem(problems_of(lambda: inv.match("all", "nothere")), "--limit 'nothere'")


def test_limit_file(write: Write) -> None:
    inv = load_inventory([write("inv.ini", "[web]\nh1\nh2\nh3\n")])
    limit = write("limit.txt", "h3\n\nh1\n")
    assert inv.match("web", f"@{limit}") == ["h1", "h3"]
    assert has_problem(problems_of(lambda: inv.match("web", "@/no/such")), "does not exist")


def test_several_sources_merge_and_host_list(write: Write) -> None:
    a = write("a/inv.yml", "web:\n  hosts:\n    h1: {x: 1}\n")
    b = write("b/inv.ini", "[web]\nh2\n[web:vars]\ny=2\n")
    write("b/group_vars/web.yml", "z: 3\n")
    inv = load_inventory([a, b, "x1,x2,"])
    assert inv.match("all") == ["x1", "x2", "h1", "h2"]  # ungrouped first, as Ansible
    assert inv.host_vars("h1") == {"x": 1, "y": 2, "z": 3}


def test_host_conn_mapping(write: Write) -> None:
    path = write(
        "inv/hosts.yml",
        """
        all:
          vars:
            ansible_ssh_private_key_file: keys/id
            deployer_known_hosts: kh
          hosts:
            a:
              ansible_host: 192.0.2.1
              ansible_port: "2222"
              ansible_user: deploy
              ansible_password: pw
              deployer_ssh_jump: jump@bastion:2200
              deployer_state_dir: /srv/deployer
            b:
        """,
    )
    inv = load_inventory([path])
    a, b = inv.host_conn("a"), inv.host_conn("b")
    base = str(Path(path).parent)
    assert (a.address, a.port, a.user, a.jump, a.state_dir) == (
        "192.0.2.1",
        2222,
        "deploy",
        "jump@bastion:2200",
        "/srv/deployer",
    )
    assert a.key_file == f"{base}/keys/id" and a.known_hosts == (f"{base}/kh",)
    assert a.password is not None and a.password.reveal() == "pw" and "pw" not in repr(a)
    assert (b.address, b.port, b.user, b.password, b.jump, b.state_dir) == (
        "b",
        22,
        "root",
        None,
        None,
        "/var/lib/deployer",
    )


def test_inventory_reads_no_ssh_config(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inventory's jump only: ~/.ssh/config's ProxyJump is the SSH room's business
    (tests/unit/remote/test_ssh_config_jump.py), so config needs no paramiko."""
    monkeypatch.setenv(
        "HOME", str(Path(write("home/.ssh/config", "ProxyJump admin@gw\n")).parents[1])
    )
    inv = load_inventory(
        [write("inv.ini", "p ansible_host=10.1.2.3\nq deployer_ssh_jump=me@gw2\n")]
    )
    assert (inv.host_conn("p").jump, inv.host_conn("q").jump) == (None, "me@gw2")


def test_bad_connection_vars_point_at_their_definition(write: Write) -> None:
    path = write("inv.ini", "h1 ansible_port=99999\nh2 deployer_ssh_jump='a b'\n")
    inv = load_inventory([path])
    assert problems_of(lambda: inv.host_conn("h1")) == [
        f"{path}:1:1: ansible_port: must be a port number 1-65535, got 99999 (on host h1)"
    ]
    assert has_problem(problems_of(lambda: inv.host_conn("h2")), f"{path}:2:1:", "user@host")


def test_group_vars_file_must_be_a_mapping(write: Write) -> None:
    path = write("inv.ini", "[web]\nh1\n")
    write("group_vars/web.yml", "- not\n- a mapping\n")
    assert has_problem(
        problems_of(lambda: load_inventory([path])), "web.yml:1:1:", "must be a mapping"
    )


def test_unknown_host_vars_has_did_you_mean(write: Write) -> None:
    inv = load_inventory([write("inv.ini", "web1\n")])
    assert has_problem(problems_of(lambda: inv.host_vars("web2")), "did you mean 'web1'?")


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "web-1.example.com",
        "Web-1.Example.COM.",
        "fe80::1",
        "::ffff:10.1.2.3",
        "fe80::1%eth0",
        "h_2",
        "bücher.example",
        "a" * 63 + ("." + "b" * 62) * 3 + ".",  # 253 and the root dot
    ],
)
def test_host_names_and_ip_addresses_are_addresses(write: Write, address: str) -> None:
    inv = load_inventory(
        [write("inv.yml", f"all:\n  hosts:\n    h1: {{ansible_host: '{address}'}}\n")]
    )
    assert inv.host_conn("h1").address == address


def test_an_address_that_would_be_a_command_s_options_is_refused(write: Write) -> None:
    """The address becomes %h of an ssh ProxyCommand (its arguments, split on spaces): an
    address with a space or a leading '-' would be options of ssh there, -oProxyCommand=..."""
    path = write(
        "inv.yml",
        "all:\n  hosts:\n"
        "    h1: {ansible_host: 'gw -oProxyCommand=touch /tmp/x'}\n"
        "    h2: {ansible_host: '-oProxyCommand=id'}\n"
        "    'web 3': {}\n",
    )
    inv = load_inventory([path])
    assert problems_of(lambda: inv.host_conn("h1")) == [
        f"{path}:3:10: ansible_host: must be a host name or an IP address,"
        " got 'gw -oProxyCommand=touch /tmp/x' (on host h1)"
    ]
    assert has_problem(
        problems_of(lambda: inv.host_conn("h2")), f"{path}:4:", "'-oProxyCommand=id'"
    )
    assert has_problem(
        problems_of(lambda: inv.host_conn("web 3")), f"{path}:", "the inventory name"
    )


@pytest.mark.parametrize(
    "address",
    ["[2001:db8::7]", "10.0.0.1:2222", "1.2.3.4.5", "-x", "a..b", "a b", "x" * 64, "a%eth0"],
)
def test_what_is_no_host_name_nor_ip_address_is_refused(write: Write, address: str) -> None:
    """Brackets (paramiko would look '[::1]' up as a name), a port, a bad IPv4 address."""
    inv = load_inventory(
        [write("inv.yml", f"all:\n  hosts:\n    h1: {{ansible_host: '{address}'}}\n")]
    )
    assert has_problem(problems_of(lambda: inv.host_conn("h1")), "ansible_host: must be a host")


@pytest.mark.parametrize("jump", ["me@-lk", "-D1080", "me@-oProxyCommand"])
def test_a_jump_host_that_would_be_an_option_is_refused(write: Write, jump: str) -> None:
    inv = load_inventory(
        [write("inv.yml", f"all:\n  hosts:\n    h1: {{deployer_ssh_jump: '{jump}'}}\n")]
    )
    assert has_problem(problems_of(lambda: inv.host_conn("h1")), "deployer_ssh_jump")
