"""`target: swarm` and `swarm:` in a playbook, through the public loader: each problem with
file:line:column and its key path; good input becomes a SwarmSpec on every container."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deployer.config import load_playbook
from deployer.inventory import Inventory, load_inventory
from deployer.model import SwarmSpec
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]
HEAD = "- hosts: m1\n  target: swarm\n  containers:\n    - name: web\n      image: app:1\n"


@pytest.fixture
def inv(write: Write) -> Inventory:
    return load_inventory([write("inv.yml", "all:\n  hosts:\n    m1: {}\n")])


def test_a_swarm_play_gets_its_spec(write: Write, inv: Inventory) -> None:
    body = HEAD + (
        "      ports: ['8080:80']\n"
        "      swarm: {replicas: 3, publish: host, endpoint_mode: dnsrr, monitor: 2s,"
        " update_delay: 0, timeout: 1m}\n"
    )
    (play,) = load_playbook(write("p.yml", body), inv).plays
    assert play.target == "swarm"
    (spec,) = play.containers["m1"]
    assert spec.swarm == SwarmSpec(
        replicas=3, publish="host", endpoint_mode="dnsrr", monitor=2.0, timeout=60.0
    )


def test_without_swarm_block_the_defaults(write: Write, inv: Inventory) -> None:
    (play,) = load_playbook(write("p.yml", HEAD), inv).plays
    assert play.containers["m1"][0].swarm == SwarmSpec()


def test_a_host_play_has_no_swarm_spec(write: Write, inv: Inventory) -> None:
    body = HEAD.replace("  target: swarm\n", "")
    (play,) = load_playbook(write("p.yml", body), inv).plays
    assert play.target == "hosts" and play.containers["m1"][0].swarm is None


@pytest.mark.parametrize(
    ("extra", "line", "key", "words"),
    [
        ("      swarm: {replicas: -1}\n", 6, "swarm.replicas", "whole number"),
        ("      swarm: {replicas: 'x'}\n", 6, "swarm.replicas", "whole number"),
        ("      swarm: {mode: everywhere}\n", 6, "swarm.mode", "replicated, global"),
        ("      swarm: {mode: global, replicas: 2}\n", 6, "swarm.replicas", "global"),
        ("      swarm: {publish: mesh}\n", 6, "swarm.publish", "ingress, host"),
        ("      swarm: {monitor: soon}\n", 6, "swarm.monitor", "duration"),
        ("      swarm: {replica: 2}\n", 6, "swarm.replica", "did you mean"),
        ("      swarm: [1]\n", 6, "swarm", "mapping"),
        ("      proxy: {port: 80}\n", 6, "proxy", "not on a swarm play"),
        ("      memory: 512m\n", 6, "memory", "not on a swarm play"),
        ("      retain: 2\n", 6, "retain", "not on a swarm play"),
    ],
)
def test_bad_swarm_input_is_named_with_file_line_and_key(
    write: Write, inv: Inventory, extra: str, line: int, key: str, words: str
) -> None:
    path = write("p.yml", HEAD + extra)
    found = problems_of(lambda: load_playbook(path, inv))
    assert has_problem(found, f"{path}:{line}:", f"plays[0].containers[0].{key}", words), found


def test_unknown_target_and_swarm_on_a_host_play(write: Write, inv: Inventory) -> None:
    path = write("p.yml", HEAD.replace("target: swarm", "target: k8s"))
    found = problems_of(lambda: load_playbook(path, inv))
    assert has_problem(found, f"{path}:2:", "plays[0].target", "hosts, swarm"), found
    body = HEAD.replace("  target: swarm\n", "") + "      swarm: {replicas: 2}\n"
    path = write("q.yml", body)
    found = problems_of(lambda: load_playbook(path, inv))
    assert has_problem(found, f"{path}:5:", "containers[0].swarm", "target: swarm"), found


def test_deploy_refuses_a_mix_of_swarm_and_host_plays_before_connecting(
    write: Write, tmp_path: object
) -> None:
    from click.testing import CliRunner

    from deployer.cli import main

    inv = write("inv.yml", "all:\n  hosts:\n    m1: {ansible_host: 192.0.2.1}\n")
    mixed = write("mixed.yml", HEAD + HEAD.replace("  target: swarm\n", ""))
    res = CliRunner().invoke(main, ["deploy", mixed, "-i", inv, "--no-summary"])
    assert res.exit_code == 5 and "cannot also have host plays" in res.output, res.output
    only = write("only.yml", HEAD)
    res = CliRunner().invoke(main, ["rollback", only, "-i", inv, "--to", "v1"])
    assert res.exit_code == 5 and "previous spec only" in res.output, res.output
