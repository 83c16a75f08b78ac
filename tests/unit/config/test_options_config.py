"""The container options (issue 12): memory, cpus, user, entrypoint, caps, ulimits, log,
pull, ... read through the public loader; each good value's canonical form, each bad one's
problem at file:line:col and key path; and what they do to the spec hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from deployer.config import load_playbook
from deployer.inventory import Inventory, load_inventory
from deployer.model import (
    ContainerSpec,
    LogConfig,
    NetworkAttach,
    PortSpec,
    ProxySpec,
    RunOptions,
    Secret,
    spec_hash,
    spec_public,
)
from tests.unit.conftest import problems_of

Write = Callable[[str, str], str]
HEAD = "- hosts: web\n  containers:\n    - name: app\n      image: nginx:1.25\n"
KEY = "plays[0].containers[0]"
LINE = 5  # the first line after HEAD


@pytest.fixture
def inv(write: Write) -> Inventory:
    text = "all:\n  children:\n    web:\n      hosts:\n        h1: {mem: 1g, ro: true}\n"
    return load_inventory([write("inv.yml", text + "        h2: {mem: 2g, ro: false}\n")])


def app(write: Write, inv: Inventory, body: str, host: str = "h1") -> ContainerSpec:
    (play,) = load_playbook(write("play.yml", HEAD + body), inv).plays
    (spec,) = play.containers[host]
    return spec


def problems(write: Write, inv: Inventory, body: str) -> tuple[str, list[str]]:
    path = write("play.yml", HEAD + body)
    return path, problems_of(lambda: load_playbook(path, inv))


FULL = """\
      memory: 512M
      memory_reservation: 268435456
      shm_size: 1.5g
      cpus: 1.50
      cpu_shares: 512
      user: "1000:1000"
      workdir: /srv/app
      entrypoint: [/bin/sh, -c]
      command: ["exec app"]
      hostname: app-1.internal
      extra_hosts: {db: 10.0.0.5, gateway: host-gateway, v6: "2001:db8::0:1"}
      dns: [1.1.1.1, "2001:4860:4860::8888"]
      cap_add: [net_admin, CAP_SYS_PTRACE, NET_ADMIN]
      cap_drop: [all]
      read_only: true
      tmpfs: ["/run:size=64m,noexec,nosuid", /tmp]
      ulimits: {nofile: "1024:2048", nproc: 512, core: {soft: 0, hard: -1}}
      init: true
      devices: [/dev/fuse, "/dev/sda:/dev/xvda:rw", "/dev/kvm:rwm"]
      gpus: "count=2,capabilities=utility"
      privileged: true
      log: {driver: json-file, options: {max-size: 50m, max-file: 5, compress: true}}
      pull: missing
"""


def test_every_option_reaches_the_model_in_canonical_form(write: Write, inv: Inventory) -> None:
    spec = app(write, inv, FULL)
    assert spec.options == RunOptions(
        memory="512m",
        memory_reservation="256m",
        shm_size="1536m",
        cpus="1.5",
        cpu_shares=512,
        user="1000:1000",
        workdir="/srv/app",
        entrypoint=("/bin/sh", "-c"),
        hostname="app-1.internal",
        extra_hosts=("db:10.0.0.5", "gateway:host-gateway", "v6:2001:db8::1"),
        dns=("1.1.1.1", "2001:4860:4860::8888"),
        cap_add=("CAP_NET_ADMIN", "CAP_SYS_PTRACE"),
        cap_drop=("ALL",),
        read_only=True,
        tmpfs=("/run:size=64m,noexec,nosuid", "/tmp"),
        ulimits=("nofile=1024:2048", "nproc=512:512", "core=0:-1"),
        init=True,
        devices=("/dev/fuse", "/dev/sda:/dev/xvda:rw", "/dev/kvm:rwm"),
        gpus="count=2,capabilities=utility",
        privileged=True,
        log=LogConfig("json-file", (("max-size", "50m"), ("max-file", "5"), ("compress", "true"))),
        pull="missing",
    )
    assert spec.command == ("exec app",)


def test_no_options_is_docker_s_defaults_and_pull_always(write: Write, inv: Inventory) -> None:
    spec = app(write, inv, "")
    assert spec.options == RunOptions() and spec.options.pull == "always"
    assert spec.options.log is None  # docker/options.py's bounded default, outside the hash


def test_templates_render_per_host_and_keep_types(write: Write, inv: Inventory) -> None:
    body = '      memory: "{{ mem }}"\n      read_only: "{{ ro }}"\n'
    h1, h2 = app(write, inv, body, "h1"), app(write, inv, body, "h2")
    assert (h1.options.memory, h1.options.read_only) == ("1g", True)
    assert (h2.options.memory, h2.options.read_only) == ("2g", False)


@pytest.mark.parametrize(
    ("body", "field", "want"),
    [
        ("memory: 1073741824", "memory", "1g"),
        ("memory: 1.5GiB", "memory", "1536m"),
        ("memory: 6m", "memory", "6m"),
        ("memory: 7340033", "memory", "7340033"),
        ("memory: 64 MB", "memory", "64m"),
        ("shm_size: 1", "shm_size", "1"),
        ("cpus: 2", "cpus", "2"),
        ("cpus: '0.25'", "cpus", "0.25"),
        ("cpus: 0.000000001e7", "cpus", "0.01"),
        ("cpu_shares: 2", "cpu_shares", 2),
        ("user: app", "user", "app"),
        ("user: 1000", "user", "1000"),
        ("user: www-data:www-data", "user", "www-data:www-data"),
        ("workdir: /", "workdir", "/"),
        ("entrypoint: /app/run --fast 'a b'", "entrypoint", ("/app/run", "--fast", "a b")),
        ("entrypoint: ''", "entrypoint", ()),
        ("entrypoint: []", "entrypoint", ()),
        ("hostname: db", "hostname", "db"),
        (
            "extra_hosts: ['db:10.0.0.5', 'v6:::1', 'gw:host-gateway']",
            "extra_hosts",
            ("db:10.0.0.5", "v6:::1", "gw:host-gateway"),
        ),
        ("dns: [8.8.8.8]", "dns", ("8.8.8.8",)),
        ("cap_drop: [CAP_CHOWN, kill]", "cap_drop", ("CAP_CHOWN", "CAP_KILL")),
        ("read_only: false", "read_only", False),
        ("init: false", "init", False),
        (
            "tmpfs: ['/cache:mode=1777,uid=1000,size=50%']",
            "tmpfs",
            ("/cache:mode=1777,uid=1000,size=50%",),
        ),
        ("ulimits: {nofile: 65536}", "ulimits", ("nofile=65536:65536",)),
        ("ulimits: {memlock: '-1:-1'}", "ulimits", ("memlock=-1:-1",)),
        ("ulimits: {stack: {soft: 1024}}", "ulimits", ("stack=1024:1024",)),
        ("devices: ['/dev/snd:/dev/snd']", "devices", ("/dev/snd:/dev/snd",)),
        ("gpus: 1", "gpus", "1"),
        ("gpus: all", "gpus", "all"),
        ("gpus: '\"device=0,1\"'", "gpus", '"device=0,1"'),
        ("gpus: 'device=GPU-3a23c669,driver=nvidia'", "gpus", "device=GPU-3a23c669,driver=nvidia"),
        (
            "log: {driver: journald, options: {tag: app}}",
            "log",
            LogConfig("journald", (("tag", "app"),)),
        ),
        ("log: {options: {max-size: 1g}}", "log", LogConfig("json-file", (("max-size", "1g"),))),
        ("log: {driver: local}", "log", LogConfig("local")),
        ("log: {driver: none}", "log", LogConfig("none")),
        (
            "log: {driver: 'grafana/loki-docker-driver:2.9'}",
            "log",
            LogConfig("grafana/loki-docker-driver:2.9"),
        ),
        ("pull: never", "pull", "never"),
        ("pull: always", "pull", "always"),
    ],
)
def test_good_values(write: Write, inv: Inventory, body: str, field: str, want: Any) -> None:
    assert getattr(app(write, inv, f"      {body}\n").options, field) == want


BAD = [
    ("memory: 12x", "memory", "memory must be a size like 512m"),
    ("memory: 5m", "memory", "memory must be at least 6m"),
    ("memory: -1", "memory", "memory must be a size"),
    ("memory: [1g]", "memory", "memory must be a string, not a list"),
    ("memory: true", "memory", "memory must be a string, not a boolean"),
    ("memory_reservation: 1k", "memory_reservation", "at least 6m"),
    ("shm_size: 0", "shm_size", "shm_size must be at least 1"),
    ("cpus: 0", "cpus", "cpus must be from 0.01"),
    ("cpus: -1", "cpus", "cpus must be from 0.01"),
    ("cpus: two", "cpus", "cpus must be a number"),
    ("cpus: 1.0000000001", "cpus", "too precise"),
    ("cpus: .nan", "cpus", "cpus must be from 0.01"),
    ("cpu_shares: 1", "cpu_shares", "from 2 to 262144"),
    ("cpu_shares: 1.5", "cpu_shares", "whole number"),
    ("user: 'a b'", "user", "user must be NAME or UID"),
    ("user: 'a:b:c'", "user", "user must be NAME or UID"),
    ("user: ''", "user", "must not be empty"),
    ("user: 4294967295", "user", "an id must be at most"),
    ("workdir: srv/app", "workdir", "workdir must be an absolute path"),
    ("entrypoint: 'sh -c \"x'", "entrypoint", "cannot split entrypoint"),
    ("entrypoint: ['', x]", "entrypoint", "the program) must not be empty"),
    ("entrypoint: {a: b}", "entrypoint", "entrypoint must be a string or a list"),
    ("hostname: -bad-", "hostname", "hostname must be a host name"),
    ("hostname: 'a b'", "hostname", "hostname must be a host name"),
    ("extra_hosts: {db: not-an-ip}", "extra_hosts.db", "must be an IP address"),
    ("extra_hosts: ['db']", "extra_hosts[0]", "an extra host must be HOST:IP"),
    ("extra_hosts: ['d b:1.2.3.4']", "extra_hosts[0]", "is not a host name"),
    ("extra_hosts: db:1.2.3.4", "extra_hosts", "extra_hosts must be a list"),
    ("dns: [8.8.8]", "dns[0]", "must be an IP address"),
    ("dns: 8.8.8.8", "dns", "dns must be a list, not a string"),
    ("cap_add: [NET_FOO]", "cap_add[0]", "unknown capability 'NET_FOO'"),
    ("cap_drop: [CAP_]", "cap_drop[0]", "unknown capability"),
    ("read_only: yes please", "read_only", "read_only must be true or false"),
    ("privileged: 1", "privileged", "privileged must be true or false"),
    ("init: maybe", "init", "init must be true or false"),
    ("tmpfs: [tmp]", "tmpfs[0]", "a tmpfs must be /path[:options]"),
    ("tmpfs: ['/tmp:size=big']", "tmpfs[0]", "invalid option 'size=big'"),
    ("tmpfs: ['/tmp:bogus']", "tmpfs[0]", "invalid option 'bogus'"),
    ("ulimits: {nofile: '2048:1024'}", "ulimits.nofile", "soft limit must be at most the hard"),
    ("ulimits: {nofile: '1:2:3'}", "ulimits.nofile", "use SOFT or SOFT:HARD"),
    ("ulimits: {nofile: lots}", "ulimits.nofile", "'lots' is not a whole number"),
    ("ulimits: {nofile: '-1:1024'}", "ulimits.nofile", "soft limit must be at most"),
    ("ulimits: {files: 10}", "ulimits.files", "unknown ulimit 'files'"),
    ("ulimits: {nofile: 99999999999999999999}", "ulimits.nofile", "a limit must be at most"),
    ("memory: 99999999999999999999", "memory", "is too large"),
    ("memory: {a: 1}", "memory", "memory must be a string, not a mapping"),
    ("cpus: .inf", "cpus", "cpus must be from 0.01"),
    ("cpu_shares: 99999999999", "cpu_shares", "from 2 to 262144"),
    ("ulimits: {nofile: {hard: 10}}", "ulimits.nofile", "must be {soft: N, hard: N}"),
    ("ulimits: [nofile=10]", "ulimits", "ulimits must be a mapping"),
    ("devices: [dev/fuse]", "devices[0]", "a device must be /dev/HOST"),
    ("devices: ['/dev/a:/dev/b:rwx']", "devices[0]", "the mode must be r, w, m"),
    ("devices: ['/dev/a:b']", "devices[0]", "'b' is not an absolute path"),
    ("devices: ['/dev/a:/b:r:w']", "devices[0]", "a device must be /dev/HOST"),
    ("gpus: 0", "gpus", "a count of at least 1"),
    ("gpus: some", "gpus", "a count must be a number or all"),
    ("gpus: 'device=0,1'", "gpus", "give a count or device ids, not both"),
    ("gpus: 'colour=red'", "gpus", "unknown key 'colour'"),
    ("gpus: 'count=1,count=2'", "gpus", "count is given twice"),
    ("gpus: 'device='", "gpus", "device needs a value"),
    ("log: json-file", "log", "log must be a mapping like"),
    ("log: {drivr: local}", "log.drivr", "unknown key 'drivr' (did you mean 'driver'?)"),
    ("log: {driver: 'bad driver'}", "log.driver", "log driver must be a driver name"),
    ("log: {options: {max-size: 0}}", "log.options.max-size", "max-size must be more than 0"),
    ("log: {options: {max-size: 10q}}", "log.options.max-size", "max-size must be a size"),
    ("log: {options: {max-file: 0}}", "log.options.max-file", "at least 1"),
    ("log: {options: {compress: maybe}}", "log.options.compress", "compress must be true"),
    ("log: {options: {mode: fast}}", "log.options.mode", "blocking or non-blocking"),
    ("log: {options: {labels-rgx: x}}", "log.options.labels-rgx", "has no option 'labels-rgx'"),
    ("log: {driver: local, options: {tag: x}}", "log.options.tag", "local log driver has no"),
    ("log: {driver: none, options: {tag: x}}", "log.options.tag", "it takes: none"),
    ("log: {options: {tag: }}", "log.options.tag", "log option tag needs a value"),
    ("log: {options: [max-size]}", "log.options", "options must be a mapping"),
    ("pull: sometimes", "pull", "pull must be always, missing or never"),
    ("pull: true", "pull", "pull must be always, missing or never"),
]


@pytest.mark.parametrize(("body", "key", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_values_name_file_line_and_key(
    write: Write, inv: Inventory, body: str, key: str, message: str
) -> None:
    path, found = problems(write, inv, f"      {body}\n")
    mine = [p for p in found if p.startswith(f"{path}:{LINE}:") and f": {KEY}.{key}: " in p]
    assert len([p for p in mine if message in p]) == 1, found  # once, not once per host
    assert all("Traceback" not in p for p in found)


def test_a_problem_in_a_list_item_points_at_its_own_line(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, "      cap_add:\n        - CHOWN\n        - NOPE\n")
    assert any(p.startswith(f"{path}:7:11: {KEY}.cap_add[1]: unknown capability") for p in found)


def test_a_templated_bad_value_names_the_host(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, '      memory: "{{ mem }}x"\n')
    assert any(f"{path}:5:" in p and "(on host h1)" in p for p in found), found
    assert any("'1gx'" in p for p in found) and any("'2gx'" in p for p in found)


def test_a_misspelt_option_gets_a_suggestion(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, "      memroy: 1g\n      cap-add: [CHOWN]\n")
    assert any(
        f"{path}:5:7: {KEY}.memroy: unknown key 'memroy'" in p and "'memory'" in p for p in found
    )
    assert any("'cap-add'" in p and "'cap_add'" in p for p in found)


def test_memory_reservation_above_memory(write: Write, inv: Inventory) -> None:
    path, found = problems(write, inv, "      memory: 1g\n      memory_reservation: 2g\n")
    want = f"{path}:6:27: {KEY}.memory_reservation: memory_reservation must not be more than"
    assert any(p.startswith(want) for p in found), found


# ---------------------------------------------------------------- the spec hash

# Computed with deployer before the container options existed (commit 7664ee3), by
# spec_hash of these two specs. A deployer upgrade must not replace a fleet's containers.
RICH_BEFORE = "p1-7c3743e33682bda858c97f9de3b0b5a6"
PLAIN_BEFORE = "p1-2bce7766cff167661366baae990f9ca0"


def rich() -> ContainerSpec:
    return ContainerSpec(
        name="web",
        image="registry.example/app:1.4",
        ports=(PortSpec(80, "tcp", 8080),),
        env=(("A", "1"),),
        secret_env=(("TOKEN", Secret("env:T", "x")),),
        volumes=("/srv:/data:ro",),
        restart="always",
        command=("nginx", "-g", "daemon off;"),
        labels=(("team", "web"),),
        stop_timeout=5,
        networks=(NetworkAttach("backend", ("api",)),),
        proxy=ProxySpec(port=80, host="a.example"),
    )


def test_specs_without_options_hash_as_before_the_options() -> None:
    assert spec_hash(rich()) == RICH_BEFORE
    plain = ContainerSpec(name="web", image="nginx:1.25", ports=(PortSpec(80, "tcp", 8080),))
    assert spec_hash(plain) == PLAIN_BEFORE
    recorded = (
        b'{"command": null, "env": {}, "image": "nginx:1.25", "labels": {}, '
        b'"ports": ["8080:80/tcp"], "restart": "unless-stopped", "secret_env": [], '
        b'"stop_timeout": 10, "volumes": []}'
    )
    assert PLAIN_BEFORE == "p1-" + hashlib.sha256(recorded).hexdigest()[:32]


def test_a_playbook_without_options_keeps_its_hash(write: Write, inv: Inventory) -> None:
    spec = app(write, inv, "      ports: ['8080:80']\n      read_only: false\n      pull: never\n")
    plain = ContainerSpec(name="app", image="nginx:1.25", ports=(PortSpec(80, "tcp", 8080),))
    assert spec_hash(spec) == spec_hash(plain)
    assert set(spec_public(spec)) == set(spec_public(plain))


ONE_EACH = [line.strip() for line in FULL.splitlines() if not line.startswith("      command")]


@pytest.mark.parametrize("line", [x for x in ONE_EACH if not x.startswith("pull")])
def test_each_option_set_changes_the_hash(write: Write, inv: Inventory, line: str) -> None:
    bare = app(write, inv, "")
    spec = app(write, inv, f"      {line}\n")
    assert spec_hash(spec) != spec_hash(bare)
    key = line.split(":", 1)[0]
    assert key in spec_public(spec) and key not in spec_public(bare)


@pytest.mark.parametrize("pull", ["always", "missing", "never"])
def test_pull_is_how_not_what_never_in_the_hash(write: Write, inv: Inventory, pull: str) -> None:
    spec = app(write, inv, f"      pull: {pull}\n")
    assert spec_hash(spec) == spec_hash(app(write, inv, "")) and "pull" not in spec_public(spec)


def test_a_given_log_is_in_the_hash_the_default_is_not(write: Write, inv: Inventory) -> None:
    bare = app(write, inv, "")
    default_spelt_out = app(
        write, inv, "      log: {driver: json-file, options: {max-size: 10m, max-file: 3}}\n"
    )
    assert "log" not in spec_public(bare)
    assert spec_public(default_spelt_out)["log"] == {
        "driver": "json-file",
        "options": {"max-size": "10m", "max-file": "3"},
    }
    assert spec_hash(default_spelt_out) != spec_hash(bare)


def test_equal_meanings_hash_alike(write: Write, inv: Inventory) -> None:
    """512M, 512m and 536870912 are one size; capability order and spelling mean nothing."""
    a = app(write, inv, "      memory: 512M\n      cap_add: [NET_ADMIN, chown]\n")
    b = app(write, inv, "      memory: 536870912\n      cap_add: [CAP_CHOWN, cap_net_admin]\n")
    assert spec_hash(a) == spec_hash(b)


def test_a_changed_value_changes_the_hash(write: Write, inv: Inventory) -> None:
    hashes = {
        spec_hash(app(write, inv, f"      {body}\n"))
        for body in ("memory: 512m", "memory: 1g", "cpus: 1", "cpus: 2", "user: app")
    }
    assert len(hashes) == 5


def test_the_spec_label_carries_the_options_for_health_and_diff(
    write: Write, inv: Inventory
) -> None:
    """`deployer health` and --diff read a container's spec back from its label."""
    public = spec_public(app(write, inv, FULL))
    text = json.dumps(public, sort_keys=True)
    for key in ("memory", "cpus", "read_only", "privileged", "user", "ulimits", "log"):
        assert f'"{key}"' in text
    assert public["privileged"] is True and public["read_only"] is True
