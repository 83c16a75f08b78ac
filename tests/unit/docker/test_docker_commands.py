"""docker/commands.py: pure builders. Exact argv and scripts (Kamal style), quoting, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess

import pytest

from deployer.docker import access, locking
from deployer.docker import commands as c
from deployer.model import ContainerSpec, HealthSpec, PortSpec, RegistryAuth, Secret

AT, BY = "2024-01-01T00:00:00+00:00", "me@there"
SECRET = "s3cr3t-VALUE-never-in-a-script"
HOSTILE = [
    "a; touch /tmp/pwned; b",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "it's \"quoted\" '$x'",
    "line one\nline two",
    "${HOME} $HOME \\ * ? ~ & | < > #",
    "",
]


def spec(**kw) -> ContainerSpec:
    base = dict(
        name="web",
        image="reg:5000/demo/web:v1",
        ports=(PortSpec(80, "tcp", 8080),),
        env=(("A", "1"),),
        stop_timeout=2,
    )
    base.update(kw)
    return ContainerSpec(**base)


def label_args(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--label")


def run_through_sh(text: str) -> list[str]:
    """What a POSIX shell makes of `text` as one command's arguments (no SSH, local sh)."""
    out = subprocess.run(["sh", "-c", f"printf '%s\\0' {text}"], capture_output=True, check=True)
    return out.stdout.decode().split("\0")[:-1]


# ---------------------------------------------------------------- sh()


def test_sh_quotes_every_item_but_raw():
    assert c.sh(["docker", "run", "a b", "$(x)"]) == "docker run 'a b' '$(x)'"
    assert c.sh(["docker", "--config", c.TMPDIR, "x"]) == 'docker --config "$D" x'
    assert c.sh(["--env-file", c.ENV_FILE]) == '--env-file "$D/env"'
    assert c.sh(["''"]) == "''\"'\"''\"'\"''"


@pytest.mark.parametrize("value", HOSTILE)
def test_sh_round_trips_hostile_values_through_a_real_shell(value, tmp_path):
    argv = ["echo", value, f"K={value}"]
    assert run_through_sh(c.sh(argv[1:])) == argv[1:]
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- run_argv


def test_run_argv_exact():
    s = spec(
        volumes=("/srv/data:/data:ro",),
        command=("httpd", "-f"),
        labels=(("team", "web"),),
        restart="always",
    )
    argv = c.run_argv(s, None, AT, BY)
    public = json.dumps(c.spec_public(s), sort_keys=True, separators=(",", ":"))
    assert argv == [
        "docker",
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "team=web",
        "--label",
        "deployer.managed=true",
        "--label",
        "deployer.name=web",
        "--label",
        f"deployer.spec-hash={c.spec_hash(s)}",
        "--label",
        f"deployer.spec={public}",
        "--label",
        "deployer.image=reg:5000/demo/web:v1",
        "--label",
        f"deployer.deployed-at={AT}",
        "--label",
        f"deployer.deployed-by={BY}",
        "-p",
        "8080:80/tcp",
        "-e",
        "A=1",
        "-v",
        "/srv/data:/data:ro",
        "--restart",
        "always",
        "--stop-timeout",
        "2",
        # no `log:` in the playbook: bounded json-file logs (not part of the spec hash)
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10m",
        "--log-opt",
        "max-file=3",
        "reg:5000/demo/web:v1",
        "httpd",
        "-f",
    ]


def test_run_argv_ports_forms():
    s = spec(
        ports=(
            PortSpec(80),
            PortSpec(53, "udp", 5353, "127.0.0.1"),
            PortSpec(443, "tcp", None, "10.0.0.1"),
        )
    )
    argv = c.run_argv(s, None, AT, BY)
    ps = [argv[i + 1] for i, a in enumerate(argv) if a == "-p"]
    assert ps == ["80/tcp", "127.0.0.1:5353:53/udp", "10.0.0.1::443/tcp"]


def test_a_user_label_cannot_override_deployers_own():
    s = spec(labels=(("deployer.managed", "false"), ("deployer.name", "other")))
    labels = label_args(c.run_argv(s, None, AT, BY))
    assert labels["deployer.managed"] == "true" and labels["deployer.name"] == "web"


def test_no_command_means_the_image_is_last():
    argv = c.run_argv(spec(), None, AT, BY)
    assert argv[-1] == "reg:5000/demo/web:v1"
    assert c.run_argv(spec(command=()), None, AT, BY)[-1] == "reg:5000/demo/web:v1"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_single_arguments(value):
    s = spec(
        env=(("V", value),),
        labels=(("note", value),),
        volumes=(f"/srv/{value}:/data",),
        command=("sh", "-c", value),
    )
    argv = c.run_argv(s, None, AT, BY)
    assert argv[argv.index("-e") + 1] == f"V={value}"
    assert argv[argv.index("-v") + 1] == f"/srv/{value}:/data"
    assert label_args(argv)["note"] == value
    assert argv[-3:] == ["sh", "-c", value]
    script = c.replace_script(s, None, AT, BY, attempt="a1")
    assert script.startswith("set -u\n")
    create = c.run_argv(s, None, AT, BY, attempt="a1", create_as="web_next_a1")
    inner = script.split("new=$(", 1)[1].rsplit(") || exit 1\n", 1)[0]
    assert shlex.split(inner) == create
    assert run_through_sh(c.sh(argv)) == argv
    assert run_through_sh(c.sh(create)) == create


# ---------------------------------------------------------------- secrets


def secret_spec(value: str = SECRET) -> ContainerSpec:
    return spec(
        secret_env=(("API_TOKEN", Secret("env:TOKEN", value)), ("DB", Secret("file:/x", "pw2")))
    )


def test_secrets_travel_on_stdin_only():
    s = secret_spec()
    assert c.secrets_stdin(s) == f"API_TOKEN={SECRET}\nDB=pw2\n"
    assert c.secrets_stdin(spec()) == ""
    argv = c.run_argv(s, c.ENV_FILE, AT, BY)
    script = c.replace_script(s, "abc123", AT, BY, attempt="a1")
    for text in (" ".join(argv), script, json.dumps(c.spec_public(s)), repr(s), str(s)):
        assert SECRET not in text and "pw2" not in text
    assert c.spec_public(s)["secret_env"] == ["API_TOKEN", "DB"]
    assert argv[argv.index("--env-file") + 1] == '"$D/env"'


def test_replace_script_with_secrets_exact():
    script = c.replace_script(
        secret_spec(), "abcdef0123456789", AT, BY, attempt="a1", guard=["GUARD"]
    )
    undo = '{ docker rm -f "$new" >/dev/null 2>&1; exit 1; }'
    create = c.run_argv(secret_spec(), c.ENV_FILE, AT, BY, attempt="a1", create_as="web_next_a1")
    assert script.splitlines() == [
        "set -u",
        "D=$(mktemp -d) || exit 1",
        "trap 'rm -rf \"$D\"' EXIT",
        "trap 'exit 1' HUP INT TERM PIPE",
        'chmod 700 "$D"',
        '(umask 077; cat > "$D/env")',
        f"new=$({c.sh(create)}) || exit 1",
        'rm -rf "$D"',
        "GUARD",
        f"docker stop -t 2 abcdef0123456789 >/dev/null || {undo}",
        f"docker rename abcdef0123456789 web_prev_abcdef012345 || {undo}",
        f'docker rename "$new" web || {undo}',
        f'docker start "$new" >/dev/null || {undo}',
        'echo "$new"',
        c.addr_line(c.Raw('"$new"')),
    ]
    assert '--env-file "$D/env"' in script and "--label deployer.attempt=a1" in script


def test_spec_hash_label_is_no_oracle_for_secret_values():
    """Item 9: the label must not change with the secret value (anyone reading labels could
    test guesses of the secret offline); changes are found with a per-run nonce instead."""
    a, b = c.spec_hash(secret_spec("one")), c.spec_hash(secret_spec("two"))
    assert a == b
    labels = label_args(c.run_argv(secret_spec("one"), c.ENV_FILE, AT, BY, attempt="x"))
    hashed = [
        hashlib.sha256(json.dumps(x).encode()).hexdigest()
        for x in (sorted([("API_TOKEN", "one"), ("DB", "pw2")]), "one")
    ]
    for value in labels.values():
        assert "one" not in value and not any(h[:16] in value for h in hashed)
    assert c.spec_hash(secret_spec("one")) != c.spec_hash(spec())  # the names still count


def test_spec_hash_ignores_rollout_only_fields():
    assert c.spec_hash(spec()) == c.spec_hash(spec(retain=5, health=HealthSpec("http", 80)))
    assert c.spec_hash(spec()) != c.spec_hash(spec(env=(("A", "2"),)))
    assert c.spec_hash(spec()) != c.spec_hash(spec(image="reg:5000/demo/web:v2"))


def test_registry_password_never_in_the_prepare_script():
    auth = RegistryAuth("reg:5443", "deployer", Secret("file:/pw", "hunter2-registry"))
    script = c.prepare_script(["reg:5443/a:1"], auth, state_dir="/var/lib/deployer", lock_info=None)
    assert "hunter2-registry" not in script
    assert (
        'docker --config "$D" login -u deployer --password-stdin reg:5443 >/dev/null 2>"$D/err" '
        '|| { cat "$D/err" >&2; exit 76; }'
    ) in script.splitlines()


# ---------------------------------------------------------------- prepare / restore / swap / finalize


def test_prepare_script_exact():
    auth = RegistryAuth("reg:5443", "u", Secret("env:X", "pw"))
    script = c.prepare_script(
        ["r/a:1", "r/a:1", "r/b"],
        auth,
        state_dir="/var/lib/deployer",
        lock_info='{"who": "x"}',
        lock_prio="p1",
        lock_wait=2,
    )
    inspect = shlex.quote(c.INSPECT_FORMAT)
    image = shlex.quote(c.IMAGE_FORMAT)
    assert script.splitlines() == [
        "set -u",
        *access.state_dir_lines("/var/lib/deployer"),
        *locking.acquire_lines("/var/lib/deployer", '{"who": "x"}', "p1", 2),
        "D=$(mktemp -d) || exit 1",
        "trap 'rm -rf \"$D\"' EXIT",
        "trap 'exit 1' HUP INT TERM PIPE",
        'chmod 700 "$D"',
        'docker --config "$D" login -u u --password-stdin reg:5443 >/dev/null 2>"$D/err" '
        '|| { cat "$D/err" >&2; exit 76; }',
        'docker --config "$D" pull -q r/a:1 >/dev/null 2>"$D/err" || { echo r/a:1 >&2; cat "$D/err" >&2; exit 77; }',
        'docker --config "$D" pull -q r/b >/dev/null 2>"$D/err" || { echo r/b >&2; cat "$D/err" >&2; exit 77; }',
        'rm -rf "$D"',
        "echo --deployer-containers--",
        "ids=$(docker ps -aq --filter label=deployer.managed=true) || exit 1",
        f'[ -z "$ids" ] || docker inspect --format {inspect} $ids',
        "echo --deployer-images--",
        f"docker image inspect --format {image} r/a:1 2>/dev/null || true",
        f"docker image inspect --format {image} r/b 2>/dev/null || true",
        "[ -z \"$ids\" ] || docker inspect --format '{{.Image}}' $ids | sort -u | "
        f"xargs -r docker image inspect --format {image} 2>/dev/null || true",
    ]
    assert script.endswith("\n")


def test_prepare_script_check_mode_takes_no_lock_and_pulls_nothing():
    script = c.prepare_script(
        ["r/a:1"], None, state_dir="/var/lib/deployer", lock_info=None, pull=False
    )
    assert "lock" not in script and " pull " not in script and "login" not in script
    assert "echo --deployer-containers--" in script and "r/a:1" in script


def test_prepare_script_without_registry_auth_does_not_log_in():
    script = c.prepare_script(["r/a:1"], RegistryAuth("reg"), state_dir="/s", lock_info="{}")
    assert "login" not in script and 'docker --config "$D" pull -q r/a:1' in script


def test_prepare_script_quotes_hostile_state_dir_image_and_lock_info():
    info = "x'; touch /tmp/pwned; echo '$(id)"
    script = c.prepare_script(["r/a:1;id"], None, state_dir="/srv/my state;id", lock_info=info)
    assert "mkdir -p '/srv/my state;id' || exit 1" in script
    assert "L='/srv/my state;id/lock';" in script
    assert f"printf '%s\\n' {shlex.quote(info)} > \"$L/info\"" in script
    assert "pull -q 'r/a:1;id'" in script and "echo 'r/a:1;id' >&2" in script


def test_replace_script_first_deploy_has_no_stop():
    script = c.replace_script(spec(), None, AT, BY, attempt="a1")
    assert "docker stop" not in script and 'docker start "$new"' in script


def test_restore_script_exact():
    """Item 2: restore acts on the ids it started, never on whatever holds the name; it looks
    the name up exactly (not `docker inspect NAME`, which also matches volumes, images...)."""
    assert c.restore_script(
        "web", "a1", "new1", "old1", decide="DECIDE", guard_dir="/g/a1"
    ).splitlines() == [
        "DECIDE || { " + c.wait_guard_line("/g/a1") + "; }",
        "docker logs --tail 20 new1 2>&1",
        "docker rm -f new1 >/dev/null 2>&1",
        'for c in $(docker ps -aq --filter label=deployer.attempt=a1); do docker rm -f "$c" >/dev/null 2>&1; done',
        "echo --deployer-containers--",
        "cur=$(docker ps -aq --no-trunc --filter name='^/web$')",
        'if [ -n "$cur" ] && [ "$cur" != old1 ]; then echo \'the name web is held by\' "$cur, which this '
        'run did not start: left alone" >&2; exit 1; fi',
        '[ "$cur" = old1 ] || docker rename old1 web || exit 1',
        "docker start old1 >/dev/null || exit 1",
        c.addr_line("old1"),
    ]
    assert c.restore_script("web", None, None, None).splitlines() == [
        "echo --deployer-containers--"
    ]
    assert 'docker rm -f "$cur"' not in c.restore_script("web", "a1", None, "old1")


def test_swap_script_exact():
    assert c.swap_script("web", "live1", "old1", 5).splitlines() == [
        "docker stop -t 5 live1 >/dev/null || exit 1",
        "docker rename live1 web_prev_live1 || exit 1",
        "docker rename old1 web || exit 1",
        "docker start old1 >/dev/null || exit 1",
        "echo --deployer-addr-- $(docker inspect --format '{{range .NetworkSettings.Networks}}"
        "{{.IPAddress}} {{end}}' old1 2>/dev/null)",
    ]
    assert c.swap_script("web", None, "old1", 5).splitlines() == [
        "docker rename old1 web || exit 1",
        "docker start old1 >/dev/null || exit 1",
        c.addr_line("old1"),
    ]
    assert c.parse_addr("x\n--deployer-addr-- 172.18.0.3 10.0.0.2 \n") == "172.18.0.3"
    assert c.parse_addr("--deployer-addr-- \n") == ""


def test_finalize_script_exact():
    record = json.dumps({"who": "me", "detail": "it's; $(x)"})
    assert c.finalize_script("/var/lib/deployer", ["a", "b"], [record], "tok1").splitlines() == [
        "docker rm -f a b >/dev/null 2>&1 || true",
        "umask 002",
        "mkdir -p /var/lib/deployer",
        f"printf '%s\\n' {shlex.quote(record)} >> /var/lib/deployer/audit.log",
        "if grep -qF tok1 /var/lib/deployer/lock/info 2>/dev/null; then rm -rf /var/lib/deployer/lock; fi",
    ]
    assert c.finalize_script("/s", [], [], None) == "true\n"


def test_finalize_releases_only_our_own_lock(tmp_path):
    state = tmp_path / "state"
    (state / "lock").mkdir(parents=True)
    (state / "lock" / "info").write_text('{"run": "someone-else"}\n')
    subprocess.run(["sh", "-c", c.finalize_script(str(state), [], [], "ours")], check=True)
    assert (state / "lock").exists()
    (state / "lock" / "info").write_text('{"run": "ours"}\n')
    subprocess.run(["sh", "-c", c.finalize_script(str(state), [], [], "ours")], check=True)
    assert not (state / "lock").exists()


def test_watch_script():
    assert (
        c.watch_script("abc")
        == "docker wait abc & w=$!\nread -r line || line=\nkill $w 2>/dev/null\nexit 0\n"
    )
    assert c.watch_script("abc", "D").splitlines()[-2] == (
        'if [ "$line" = ok ]; then if ! [ "$(docker inspect --format \'{{.State.Running}}\' abc)" = true ]; '
        "then echo STOPPED; elif D; then echo CONFIRMED; else echo LATE; fi; fi"
    )


def _fake_docker(tmp_path, answer: str):
    """A `docker` on PATH that answers every inspect with ANSWER."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "docker"
    fake.write_text(f"#!/bin/sh\necho {shlex.quote(answer)}\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("answer", "want_health", "code", "last"),
    [
        ("running 0 healthy", True, 0, "HEALTHY"),
        ("running 0 unhealthy", True, 1, "UNHEALTHY"),
        ("exited 0", True, 1, "EXITED exited restarts=0"),
        ("running 0 starting", True, 1, "TIMEOUT"),
        ("running 0", False, 0, "RUNNING"),
    ],
)
def test_state_gate_script_on_a_real_shell(tmp_path, answer, want_health, code, last):
    # timeout 3 s, settle 1 s: the steady-running check must not race the timeout on a
    # loaded machine (both are whole seconds of `date +%s`); ending by itself is what the
    # subprocess's own timeout holds it to
    script = c.state_gate_script("abc", want_health, 3, 0.2, 1)
    proc = subprocess.run(
        ["sh", "-c", script],
        env=_fake_docker(tmp_path, answer),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert (proc.returncode, proc.stdout.strip().splitlines()[-1]) == (code, last)


def test_state_gate_script_quotes_the_container():
    script = c.state_gate_script("a b;$(x)", True, 6, 0.5, 3)
    assert "'a b;$(x)'" in script and "sleep 0.5" in script


def test_prev_name():
    assert c.prev_name("web", "0123456789abcdef0123") == "web_prev_0123456789ab"


def test_spec_label_is_compact_sorted_json_without_secret_values():
    s = secret_spec()
    labels = label_args(c.run_argv(s, c.ENV_FILE, AT, BY))
    assert json.loads(labels[c.LABEL_SPEC]) == c.spec_public(s)
    assert labels[c.LABEL_SPEC] == json.dumps(
        c.spec_public(s), sort_keys=True, separators=(",", ":")
    )


def test_audit_tail_script_quotes_the_state_dir():
    assert (
        c.audit_tail_script("/var/lib/deployer", 20)
        == "tail -n 20 /var/lib/deployer/audit.log 2>/dev/null || true\n"
    )
    assert "'/srv/my state;id/audit.log'" in c.audit_tail_script("/srv/my state;id", 5)
