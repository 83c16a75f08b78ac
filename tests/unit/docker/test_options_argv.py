"""docker/options.py: the container options become exactly the `docker run` flags.

The round trip goes YAML -> ContainerSpec -> run_argv -> the one quoting function -> a real
POSIX shell -> docker's own CLI, which parses the flags and sends the container's config
to a fake Engine API on a unix socket (no daemon): what the API receives is what a
`docker run` by hand would have created. The pull policies run through a real shell with
a stand-in `docker` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from deployer.config import load_playbook
from deployer.docker import commands as c
from deployer.docker.options import DEFAULT_LOG, log_argv, options_argv, pull_line, pull_policies
from deployer.docker.shell import sh
from deployer.inventory import load_inventory
from deployer.model import ContainerSpec, LogConfig, RunOptions

AT, BY = "2024-01-01T00:00:00+00:00", "me@there"
Write = Callable[[str, str], str]

PLAYBOOK = """\
- hosts: all
  containers:
    - name: app
      image: nginx:1.25
      memory: 512M
      memory_reservation: 256m
      shm_size: 1g
      cpus: 1.5
      cpu_shares: 512
      user: "1000:1000"
      workdir: /srv/app
      entrypoint: [/bin/sh, -c]
      command: ["exec app --name 'x'; $(id)"]
      hostname: app-1
      extra_hosts: {db: 10.0.0.5, gateway: host-gateway, v6: "2001:db8::1"}
      dns: [1.1.1.1, "2001:4860:4860::8888"]
      cap_add: [NET_ADMIN, sys_ptrace]
      cap_drop: [ALL]
      read_only: true
      tmpfs: ["/run:size=64m,noexec", /tmp]
      ulimits: {nofile: "1024:2048", nproc: 512}
      init: true
      devices: [/dev/fuse, "/dev/sda:/dev/xvda:rw"]
      gpus: "count=2,capabilities=utility"
      privileged: true
      log: {driver: json-file, options: {max-size: 50m, max-file: 5}}
      pull: never
"""

FLAGS = [
    *("--memory", "512m", "--memory-reservation", "256m", "--shm-size", "1g"),
    *("--cpus", "1.5", "--cpu-shares", "512", "--user", "1000:1000"),
    *("--workdir", "/srv/app", "--hostname", "app-1", "--gpus", "count=2,capabilities=utility"),
    *("--entrypoint", "/bin/sh"),
    *("--add-host", "db:10.0.0.5", "--add-host", "gateway:host-gateway"),
    *("--add-host", "v6:2001:db8::1", "--dns", "1.1.1.1", "--dns", "2001:4860:4860::8888"),
    *("--cap-add", "CAP_NET_ADMIN", "--cap-add", "CAP_SYS_PTRACE", "--cap-drop", "ALL"),
    *("--tmpfs", "/run:size=64m,noexec", "--tmpfs", "/tmp"),
    *("--ulimit", "nofile=1024:2048", "--ulimit", "nproc=512:512"),
    *("--device", "/dev/fuse", "--device", "/dev/sda:/dev/xvda:rw"),
    *("--read-only", "--init", "--privileged"),
    *("--log-driver", "json-file", "--log-opt", "max-size=50m", "--log-opt", "max-file=5"),
]

# `docker run --help`, Docker 28.2.2: every long flag it lists (captured for machines
# without docker; with docker, test_flags_are_docker_run_flags checks the live text too).
HELP_FLAGS = set(
    """--add-host --annotation --attach --blkio-weight --blkio-weight-device --cap-add
    --cap-drop --cgroup-parent --cgroupns --cidfile --cpu-count --cpu-percent --cpu-period
    --cpu-quota --cpu-rt-period --cpu-rt-runtime --cpu-shares --cpus --cpuset-cpus
    --cpuset-mems --detach --detach-keys --device --device-cgroup-rule --device-read-bps
    --device-read-iops --device-write-bps --device-write-iops --disable-content-trust --dns
    --dns-option --dns-search --domainname --entrypoint --env --env-file --expose --gpus
    --group-add --health-cmd --health-interval --health-retries --health-start-interval
    --health-start-period --health-timeout --help --hostname --init --interactive
    --io-maxbandwidth --io-maxiops --ip --ip6 --ipc --isolation --kernel-memory --label
    --label-file --link --link-local-ip --log-driver --log-opt --mac-address --memory
    --memory-reservation --memory-swap --memory-swappiness --mount --name --network
    --network-alias --no-healthcheck --oom-kill-disable --oom-score-adj --pid --pids-limit
    --platform --privileged --publish --publish-all --pull --quiet --read-only --restart --rm
    --runtime --security-opt --shm-size --sig-proxy --stop-signal --stop-timeout
    --storage-opt --sysctl --tmpfs --tty --ulimit --use-api-socket --user --userns --uts
    --volume --volume-driver --volumes-from --workdir""".split()
)


@pytest.fixture
def full(write: Write) -> ContainerSpec:
    inv = load_inventory([write("inv.yml", "all:\n  hosts:\n    h1:\n")])
    (play,) = load_playbook(write("play.yml", PLAYBOOK), inv).plays
    (spec,) = play.containers["h1"]
    return spec


def run_through_sh(text: str) -> list[str]:
    """What a POSIX shell makes of `text` as one command's arguments."""
    out = subprocess.run(["sh", "-c", f"printf '%s\\0' {text}"], capture_output=True, check=True)
    return out.stdout.decode().split("\0")[:-1]


# ---------------------------------------------------------------- argv, exactly


def test_every_option_is_exactly_its_docker_run_flag(full: ContainerSpec) -> None:
    assert options_argv(full.options) == FLAGS


def test_run_argv_puts_the_options_before_the_image_and_the_entrypoint_args_after(
    full: ContainerSpec,
) -> None:
    argv = c.run_argv(full, None, AT, BY)
    at = argv.index("nginx:1.25")
    assert argv[at - len(FLAGS) : at] == FLAGS
    assert argv[at + 1 :] == ["-c", "exec app --name 'x'; $(id)"]
    assert run_through_sh(sh(argv)) == argv  # every typed value through the one quoting


def test_flags_are_docker_run_flags(full: ContainerSpec) -> None:
    used = {a.split("=")[0] for a in options_argv(full.options) if a.startswith("--")}
    assert used <= HELP_FLAGS, used - HELP_FLAGS
    assert "--init" in used and "--log-opt" in used
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed: checked against the captured help only")
    help_text = subprocess.run(
        ["docker", "run", "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert all(f"{flag} " in help_text for flag in used), help_text


def test_no_log_key_gets_the_bounded_json_file_default() -> None:
    assert log_argv(None) == [
        *("--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3"),
    ]
    assert DEFAULT_LOG == LogConfig("json-file", (("max-size", "10m"), ("max-file", "3")))
    assert options_argv(RunOptions())[-6:] == log_argv(None)
    assert options_argv(RunOptions()) == log_argv(None)  # nothing else when nothing is set


@pytest.mark.parametrize(
    ("log", "want"),
    [
        (LogConfig("json-file"), ["--log-driver", "json-file"]),  # said: unbounded, as asked
        (LogConfig("local"), ["--log-driver", "local"]),  # local rotates by itself
        (
            LogConfig("journald", (("tag", "app"),)),
            ["--log-driver", "journald", "--log-opt", "tag=app"],
        ),
        (LogConfig("none"), ["--log-driver", "none"]),
    ],
)
def test_a_given_log_is_taken_as_it_is(log: LogConfig, want: list[str]) -> None:
    assert log_argv(log) == want


@pytest.mark.parametrize(
    ("entrypoint", "command", "flag", "after"),
    [
        (None, None, [], []),
        (None, ("a", "b"), [], ["a", "b"]),
        (("/run",), None, ["--entrypoint", "/run"], []),
        (("/bin/sh", "-c"), ("echo hi",), ["--entrypoint", "/bin/sh"], ["-c", "echo hi"]),
        (("/bin/sh", "-c", "x"), None, ["--entrypoint", "/bin/sh"], ["-c", "x"]),
        ((), None, ["--entrypoint", ""], []),
        ((), ("app",), ["--entrypoint", ""], ["app"]),
    ],
)
def test_entrypoint_is_one_program_and_its_arguments_go_before_the_command(
    entrypoint: tuple[str, ...] | None,
    command: tuple[str, ...] | None,
    flag: list[str],
    after: list[str],
) -> None:
    spec = ContainerSpec("w", "img", command=command, options=RunOptions(entrypoint=entrypoint))
    argv = c.run_argv(spec, None, AT, BY)
    at = argv.index("img")
    assert argv[at + 1 :] == after
    assert (
        argv[argv.index("--entrypoint") : argv.index("--entrypoint") + 2] if flag else []
    ) == flag


def test_init_false_is_said_and_unset_flags_are_absent() -> None:
    assert "--init=false" in options_argv(RunOptions(init=False))
    bare = options_argv(RunOptions(read_only=False, privileged=False))
    assert not {"--init", "--read-only", "--privileged"} & set(bare)


def test_hostile_values_stay_data(tmp_path: Path) -> None:
    evil = "$(touch " + str(tmp_path / "pwned") + ")"
    spec = ContainerSpec(
        "w",
        "img",
        options=RunOptions(
            entrypoint=(evil, evil), log=LogConfig("json-file", (("tag", evil),)), user=evil
        ),
    )
    argv = c.run_argv(spec, None, AT, BY)
    assert run_through_sh(sh(argv)) == argv
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- docker's own parser


class _Engine(BaseHTTPRequestHandler):
    """Just enough of the Engine API for `docker create`: ping, and create (recorded)."""

    created: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, code: int, body: object, *, head: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for key, value in (("Api-Version", "1.45"), ("Ostype", "linux")):
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:  # a HEAD answer has no body: the client, gone, broke the pipe
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.reply(200, {}, head=True)

    def do_GET(self) -> None:
        self.reply(200, "OK" if "_ping" in self.path else {})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/containers/create" in self.path:
            _Engine.created.append(json.loads(body or b"{}"))
        self.reply(201, {"Id": "0123456789ab", "Warnings": []})


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> Any:
        request, _ = super().get_request()
        return request, ("local", 0)


@pytest.fixture
def fake_engine() -> Iterator[dict[str, str]]:
    if shutil.which("docker") is None:
        pytest.skip("docker's CLI is not installed")
    folder = tempfile.mkdtemp(prefix="dk", dir="/tmp")  # a unix socket path must be short
    server = _Server(os.path.join(folder, "d.sock"), _Engine)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _Engine.created = []
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": folder,
        "DOCKER_HOST": f"unix://{folder}/d.sock",
        "DOCKER_CONFIG": os.path.join(folder, "config"),
    }
    try:
        yield env
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        shutil.rmtree(folder, ignore_errors=True)


def docker_create(spec: ContainerSpec, env: dict[str, str]) -> dict[str, Any]:
    """The config docker's CLI sends for run_argv(spec), run through a real shell."""
    argv = c.run_argv(spec, None, AT, BY, create_as="app_next_1")
    res = subprocess.run(
        ["sh", "-c", sh(argv)], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    (created,) = _Engine.created
    return created


def test_docker_s_own_cli_reads_every_option_as_meant(
    full: ContainerSpec, fake_engine: dict[str, str]
) -> None:
    cfg = docker_create(full, fake_engine)
    host = cfg["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"]) == (512 * 2**20, 256 * 2**20)
    assert (host["ShmSize"], host["NanoCpus"], host["CpuShares"]) == (2**30, 1_500_000_000, 512)
    assert (cfg["User"], cfg["WorkingDir"], cfg["Hostname"]) == ("1000:1000", "/srv/app", "app-1")
    assert cfg["Entrypoint"] == ["/bin/sh"]
    assert cfg["Cmd"] == ["-c", "exec app --name 'x'; $(id)"]
    assert cfg["Image"] == "nginx:1.25"
    assert host["ExtraHosts"] == ["db:10.0.0.5", "gateway:host-gateway", "v6:2001:db8::1"]
    assert host["Dns"] == ["1.1.1.1", "2001:4860:4860::8888"]
    assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN", "CAP_SYS_PTRACE"], ["ALL"])
    assert host["ReadonlyRootfs"] is True and host["Privileged"] is True and host["Init"] is True
    assert host["Tmpfs"] == {"/run": "size=64m,noexec", "/tmp": ""}
    assert host["Ulimits"] == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 512, "Hard": 512},
    ]
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "rw"},
    ]
    (gpu,) = host["DeviceRequests"]
    assert (gpu["Count"], gpu["Capabilities"]) == (2, [["utility", "gpu"]])
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "50m", "max-file": "5"},
    }
    assert cfg["Labels"]["deployer.spec"] == json.dumps(
        c.spec_public(full), sort_keys=True, separators=(",", ":")
    )


def test_docker_s_cli_gets_the_log_default_and_nothing_else(fake_engine: dict[str, str]) -> None:
    cfg = docker_create(ContainerSpec("app", "nginx:1.25"), fake_engine)
    host = cfg["HostConfig"]
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "10m", "max-file": "3"},
    }
    assert (host["Memory"], host["NanoCpus"], host["Privileged"], host["ReadonlyRootfs"]) == (
        0,
        0,
        False,
        False,
    )
    assert host.get("Init") is None and cfg["Entrypoint"] is None and cfg["User"] == ""


@pytest.mark.parametrize(
    "options",
    [
        RunOptions(entrypoint=()),
        RunOptions(init=False),
        RunOptions(gpus='"device=0,1"'),
        RunOptions(gpus="all"),
        RunOptions(devices=("/dev/kvm:rwm",)),
        RunOptions(extra_hosts=("v6:::1",)),
        RunOptions(ulimits=("core=0:-1",)),
        RunOptions(log=LogConfig("none")),
    ],
)
def test_more_forms_docker_s_cli_accepts(options: RunOptions, fake_engine: dict[str, str]) -> None:
    cfg = docker_create(ContainerSpec("app", "nginx:1.25", options=options), fake_engine)
    assert cfg["Image"] == "nginx:1.25"


# ---------------------------------------------------------------- pull: always | missing | never


def spec(image: str, pull: str = "always") -> ContainerSpec:
    return ContainerSpec("w" + str(abs(hash(image + pull))), image, options=RunOptions(pull=pull))  # type: ignore[arg-type]


def prepare(images: list[str], specs: list[ContainerSpec], pull: bool = True) -> list[str]:
    return c.prepare_script(
        images, None, state_dir="/s", lock_info=None, pull=pull, secrets_of=specs
    ).splitlines()


DOCKER = ["docker", "--config", c.TMPDIR]


def test_the_default_pulls_every_time_as_deployer_always_did() -> None:
    default = prepare(["r/a:1"], [spec("r/a:1")])
    assert prepare(["r/a:1"], []) == default
    assert pull_line("r/a:1", "always", DOCKER, True, 77) in default
    assert (
        'docker --config "$D" pull -q r/a:1 >/dev/null 2>"$D/err" '
        in default[default.index(pull_line("r/a:1", "always", DOCKER, True, 77))]
    )


def test_missing_pulls_only_what_the_host_lacks() -> None:
    line = pull_line("r/a:1", "missing", DOCKER, True, 77)
    assert line.startswith("docker image inspect r/a:1 >/dev/null 2>&1 || docker --config")
    assert line in prepare(["r/a:1"], [spec("r/a:1", "missing")])


def test_never_pulls_nothing_and_a_missing_image_fails_naming_it() -> None:
    lines = prepare(["r/a:1"], [spec("r/a:1", "never")])
    assert not any(" pull " in x for x in lines)
    assert (
        "docker image inspect r/a:1 >/dev/null 2>&1 || { echo 'r/a:1: not on this host, and "
        "pull: never forbids pulling it' >&2; exit 77; }"
    ) in lines


def test_check_mode_pulls_nothing_but_still_checks_never() -> None:
    lines = prepare(
        ["r/a:1", "r/b:1", "r/c:1"], [spec("r/a:1", "never"), spec("r/b:1", "missing")], pull=False
    )
    assert not any(" pull " in x for x in lines)
    assert any(x.startswith("docker image inspect r/a:1 >/dev/null 2>&1 || {") for x in lines)


def test_one_image_two_policies_the_strongest_wins() -> None:
    both = [spec("r/a:1", "never"), spec("r/a:1", "missing"), spec("r/b:1", "never")]
    assert pull_policies(["r/a:1", "r/b:1", "r/a:1"], both) == {
        "r/a:1": "missing",
        "r/b:1": "never",
    }


def test_no_login_when_nothing_may_be_pulled() -> None:
    from deployer.model import RegistryAuth, Secret

    auth = RegistryAuth("reg", "u", Secret("env:X", "pw"))
    never = c.prepare_script(
        ["reg/a:1"], auth, state_dir="/s", lock_info=None, secrets_of=[spec("reg/a:1", "never")]
    )
    missing = c.prepare_script(
        ["reg/a:1"], auth, state_dir="/s", lock_info=None, secrets_of=[spec("reg/a:1", "missing")]
    )
    assert " login " not in never and " login " in missing


@pytest.fixture
def fake_docker(tmp_path: Path) -> Callable[[str, str], subprocess.CompletedProcess[str]]:
    """Run a pull line with a stand-in `docker` that has only the images in HAVE."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/sh\n"
        'echo "$*" >> "$LOG"\n'
        'if [ "$1" = image ]; then case " $HAVE " in *" $3 "*) exit 0;; esac; exit 1; fi\n'
        'if [ "$3" = pull ]; then [ "$5" != r/broken ] && exit 0; echo "manifest unknown" >&2;'
        " exit 1; fi\n"
    )
    script.chmod(0o755)

    def run(line: str, have: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HAVE": have, "LOG": str(tmp_path / "log")}
        (tmp_path / "log").write_text("")
        text = f'D=$(mktemp -d); {line}\necho done; cat "$LOG"'
        return subprocess.run(["sh", "-c", text], env=env, capture_output=True, text=True)

    return run


@pytest.mark.parametrize(
    ("policy", "have", "pulled", "code"),
    [
        ("always", "r/a:1", True, 0),
        ("always", "", True, 0),
        ("missing", "r/a:1", False, 0),
        ("missing", "", True, 0),
        ("never", "r/a:1", False, 0),
        ("never", "", False, 77),
    ],
)
def test_each_policy_in_a_real_shell(
    fake_docker: Callable[[str, str], subprocess.CompletedProcess[str]],
    policy: str,
    have: str,
    pulled: bool,
    code: int,
) -> None:
    res = fake_docker(pull_line("r/a:1", policy, DOCKER, True, 77), have)  # type: ignore[arg-type]
    assert res.returncode == code, res
    assert ("pull -q r/a:1" in res.stdout) is pulled
    if code:
        assert "r/a:1: not on this host, and pull: never forbids pulling it" in res.stderr


def test_a_failed_pull_names_the_image(
    fake_docker: Callable[[str, str], subprocess.CompletedProcess[str]],
) -> None:
    res = fake_docker(pull_line("r/broken", "missing", DOCKER, True, 77), "")
    assert res.returncode == 77 and res.stderr.splitlines() == ["r/broken", "manifest unknown"]
