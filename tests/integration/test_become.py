"""Logging in as real fleets allow (issue 18): a docker-group user, and sudo with a password.

The lab's hosts have `deploy` (in the group of each engine's socket, nothing more) and
`ops` (no docker group; sudo with a password), both with the lab's key. Each test drives
the real CLI, as the README has a user do it, and checks the engines and state folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_deploy import (
    PLAYBOOKS,
    cli_env,
    container_id,
    deployer,
    host_fs,
    image,
    serves,
)

pytestmark = pytest.mark.lab

HOSTS = ["h1", "h2"]
LIMIT = ",".join(HOSTS)
PW_VAR = "LAB_OPS_SUDO_PASSWORD"


def lab_vars(lab) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return yaml.safe_load(Path(lab.inventory).read_text())["all"]["vars"]


def ops_password(lab) -> str:  # type: ignore[no-untyped-def]
    return Path(lab_vars(lab)["lab_ops_password_file"]).read_text().strip()


def login_args(lab, login: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The -e flags of each way to log in, as docs/playbook.md writes them."""
    v = lab_vars(lab)
    if login == "deploy":
        return ["-e", f"ansible_user={v['lab_deploy_user']}"]
    if login == "ops":
        return [
            *("-e", f"ansible_user={v['lab_ops_user']}"),
            *("-e", "ansible_become=true", "-e", f"deployer_become_password_env={PW_VAR}"),
        ]
    return []


def login_inventory(lab, tmp_path: Path, login: str) -> Path:  # type: ignore[no-untyped-def]
    """The lab's inventory with the login in its vars (lock and audit take no -e)."""
    doc = yaml.safe_load(Path(lab.inventory).read_text())
    v = doc["all"]["vars"]
    v["deployer_health_load_warn"] = 1000  # the test machine is busy
    if login == "deploy":
        v["ansible_user"] = v["lab_deploy_user"]
    elif login == "ops":
        v.update(
            ansible_user=v["lab_ops_user"],
            ansible_become=True,
            deployer_become_password_env=PW_VAR,
        )
    path = tmp_path / f"inv-{login}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def deploy_as(lab, env: dict[str, str], login: str, *extra: str):  # type: ignore[no-untyped-def]
    return deployer(
        env,
        "deploy",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--limit",
        LIMIT,
        "-o",
        "json",
        *login_args(lab, login),
        *extra,
    )


def cmdlines() -> list[str]:
    """Every process's command line on the machine (the lab's hosts share its pid space)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("latin-1"))
            except OSError:
                continue
    return out


@pytest.fixture
def env(lab, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return cli_env(tmp_path / "home", {PW_VAR: ops_password(lab)})


@pytest.mark.parametrize("login", ["deploy", "ops"])
def test_rollout_rollback_lock_health_and_audit(clean_lab, env, tmp_path, login) -> None:  # type: ignore[no-untyped-def]
    lab = clean_lab
    # root first: what it leaves in the state folder (audit log, guard folder) stays the
    # folder group's, so that the docker group's users share it
    v1 = deploy_as(lab, env, "root")
    assert v1.code == 0, v1
    assert all(serves(lab, h, "v1") for h in HOSTS)

    # v1 -> v2, sampling every process's command line on the machine meanwhile
    password, seen, done = ops_password(lab), [], []

    def sample() -> None:
        while not done:
            seen.extend(c for c in cmdlines() if password in c)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        v2 = deploy_as(lab, env, login, "-e", f"image={image(lab, 'v2')}")
    finally:
        done.append(True)
        sampler.join()
    assert v2.code == 0, v2
    assert not seen, "the become password was on a command line"
    for h, v in v2.hosts().items():
        assert v["status"] == "changed" and v["containers"][0]["health"] == "passed", v
        assert v["commands"] <= 8, f"{h}: {v['commands']} commands"
    assert all(serves(lab, h, "v2") for h in HOSTS)

    # a rollout of the same kind (a replace) as root: the login adds no command
    root = deploy_as(lab, env, "root", "-e", f"image={image(lab, 'v2')}", "-e", "greeting=hi")
    assert root.code == 0, root
    assert {h: v["commands"] for h, v in root.hosts().items()} == {
        h: v["commands"] for h, v in v2.hosts().items()
    }

    # a failed rollout rolls back, as that login
    live = {h: container_id(lab, h) for h in HOSTS}
    bad = deploy_as(lab, env, login, "-e", f"image={image(lab, 'unhealthy')}")
    assert bad.code == 3, bad
    for h, v in bad.hosts().items():
        assert v["status"] == "failed" and "rolled back" in v["reason"], v
        assert container_id(lab, h) == live[h]
    assert all(serves(lab, h, "v2") for h in HOSTS)

    inv = login_inventory(lab, tmp_path, login)
    lock = deployer(env, "lock", "status", "-i", str(inv), "--limit", LIMIT)
    assert lock.code == 0, lock
    assert lock.stdout.count(": free") == len(HOSTS), lock
    health = deployer(env, "health", "-i", str(inv), "--limit", LIMIT, "-o", "json")
    assert health.code == 0, health
    verdicts = {h["name"]: h["verdict"] for h in health.json()["hosts"]}
    assert verdicts == {h: "healthy" for h in HOSTS}, health
    audit = deployer(env, "audit", "-i", str(inv), "--limit", LIMIT, "-o", "json")
    assert audit.code == 0, audit
    ours = [e for e in audit.json() if e["new_image"] == image(lab, "v2")]
    assert {e["host"] for e in ours} == set(HOSTS) and {e["outcome"] for e in ours} == {"ok"}

    log = host_fs(lab, "h1", "var_lib_deployer") / "audit.log"
    assert log.stat().st_gid == os.stat(lab.host("h1").docker_sock).st_gid
    assert log.stat().st_mode & 0o020, oct(log.stat().st_mode)  # group-writable
    # and the password is nowhere the run leaves words
    for text in (v1.out, v2.out, bad.out, lock.out, health.out, audit.out):
        assert password not in text
    assert password not in log.read_text()
    for f in Path(env["HOME"]).rglob("*"):
        if f.is_file():
            assert password not in f.read_text(errors="replace"), f


def test_a_wrong_become_password_fails_the_host_quickly(clean_lab, env) -> None:  # type: ignore[no-untyped-def]
    lab = clean_lab
    t0 = time.monotonic()
    run = deploy_as(lab, {**env, PW_VAR: "not-the-password"}, "ops")
    took = time.monotonic() - t0
    assert run.code == 3, run
    assert took < 20, f"took {took:.1f}s"
    for h, v in run.hosts().items():
        assert v["status"] == "failed", v
        assert "become failed" in v["reason"] and "password was refused" in v["reason"], v
        assert v["took"] < 8, v
        assert container_id(lab, h) is None
    assert "not-the-password" not in run.out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], ["/var/lib/deployer", "deployer_state_dir", "ansible_become", "docker"]),
        (
            ["-e", "ansible_become=true"],
            ["sudo asks for a password", "deployer_become_password_env"],
        ),
    ],
)
def test_a_login_with_neither_group_nor_become_is_told_what_to_set(
    clean_lab, env, extra, says
) -> None:  # type: ignore[no-untyped-def]
    lab = clean_lab
    run = deployer(
        env,
        "deploy",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--limit",
        LIMIT,
        "-o",
        "json",
        "-e",
        f"ansible_user={lab_vars(lab)['lab_ops_user']}",
        *extra,
    )
    assert run.code == 3, run
    for h, v in run.hosts().items():
        assert v["status"] == "failed", v
        for word in says:
            assert word in v["reason"], (word, v["reason"])
        assert container_id(lab, h) is None


def test_the_lab_logins(lab) -> None:  # type: ignore[no-untyped-def]
    """deploy is in the group of every engine's socket; ops is not, and its sudo asks."""
    for h in [h.name for h in lab.layout.hosts() if h.has_engine and h.role == "web"]:
        sock = lab.host(h).docker_sock
        gid = os.stat(sock).st_gid
        ssh = lab.ssh_argv(h)
        ids = subprocess.run(
            [
                *ssh[:-1],
                f"deploy@{lab.host(h).address}",
                "id -G; docker ps -q >/dev/null && echo ok",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert str(gid) in ids.stdout.split() and "ok" in ids.stdout, ids
        ops = subprocess.run(
            [*ssh[:-1], f"ops@{lab.host(h).address}", "id -G; sudo -n true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert str(gid) not in ops.stdout.split() and "password is required" in ops.stderr, ops
    assert "deploy:" not in Path("/etc/passwd").read_text()
    assert json.dumps(lab_vars(lab)["lab_ops_user"]) == '"ops"'


def test_what_travels_on_stdin_still_arrives_under_sudo(clean_lab, env) -> None:  # type: ignore[no-untyped-def]
    """The registry's password and a container's secret follow the become password's line
    on the same stdin: both arrive whole."""
    lab = clean_lab
    tls_image = f"{lab_vars(lab)['lab_registry_tls']}/demo/web:v1"
    for h in HOSTS:
        lab.docker(h, "rmi", "-f", tls_image)
    secret = "s3cret-token-18"
    for book, extra in (
        ("private_registry.yml", {}),
        ("secrets.yml", {"DEPLOYER_TEST_SECRET": secret}),
    ):
        run = deployer(
            {**env, **extra},
            "deploy",
            str(PLAYBOOKS / book),
            "-i",
            str(lab.inventory),
            "--limit",
            LIMIT,
            "-o",
            "json",
            *login_args(lab, "ops"),
        )
        assert run.code == 0, run
        assert all(v["status"] == "changed" for v in run.hosts().values()), run
        assert ops_password(lab) not in run.out and secret not in run.out
    for h in HOSTS:
        assert serves(lab, h, "v1")
        got = json.loads(lab.docker(h, "inspect", "web").stdout)[0]["Config"]["Env"]
        assert f"API_TOKEN={secret}" in got, got
