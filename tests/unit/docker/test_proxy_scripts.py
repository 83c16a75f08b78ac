"""docker/proxy.py's scripts (and the proxy-mode builders of docker/commands.py), run on a
real local `sh` with a tmp folder as the host's state dir.

`docker` is a fake on PATH: it logs its arguments, keeps what `caddy reload` was given on
stdin, fails that reload on demand, and runs per-test snippets for chosen calls. Everything
else (mkdir locks, awk, find, mv, /proc) is real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.docker import commands as c
from deployer.docker import proxy as px
from deployer.docker import proxy_container as pxc
from deployer.model import ContainerSpec, ProxyHost, ProxySpec

NEW = "a1" * 32  # full container ids, as docker prints them
OLD = "b2" * 32
OTHER = "c3" * 32
RELOAD = "exec -i deployer-proxy caddy reload --config /dev/stdin --address localhost:2019 --force"
CADDY = Path("/var/tmp/caddydeb/x/usr/bin/caddy")


def spec(name: str = "web", **proxy: object) -> ContainerSpec:
    return ContainerSpec(
        name=name,
        image="reg:5000/web:v2",
        stop_timeout=7,
        proxy=ProxySpec(**{"port": 8080, **proxy}),  # type: ignore[arg-type]
    )


class Host:
    """A tmp folder standing for one host: its state dir, and a fake `docker` on PATH."""

    def __init__(self, root: Path, rules: dict[str, str] | None = None) -> None:
        self.root = root
        self.state = root / "state"
        self.p = self.state / "proxy"
        (self.p / "routes").mkdir(parents=True)
        (self.p / "tls").mkdir()
        self.log = root / "docker.log"
        self.reload_dir = root / "reloads"
        self.reload_dir.mkdir()
        self.fail_file = root / "reload-fails"
        self.rules: dict[str, str] = {}
        self.set_rules(rules or {})

    def set_rules(self, rules: dict[str, str]) -> None:
        """RULES: a shell `case` pattern over all of docker's arguments -> shell run for it."""
        self.rules.update(rules)

        def glob(pat: str) -> str:  # quoted pieces, bare `*`
            return "*".join(shlex.quote(piece) if piece else "" for piece in pat.split("*"))

        q = shlex.quote
        cases = "".join(f"  {glob(pat)}) {body};;\n" for pat, body in self.rules.items())
        bin_dir = self.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / "docker").write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$*" >> {q(str(self.log))}\n'
            'case "$*" in\n'
            f"{cases}"
            f"  {q(RELOAD)})\n"
            f"    n=$(ls {q(str(self.reload_dir))} | wc -l)\n"
            f'    cat > {q(str(self.reload_dir))}/"$n".json\n'
            f"    if [ -f {q(str(self.fail_file))} ]; then cat {q(str(self.fail_file))} >&2; "
            "exit 1; fi;;\n"
            "esac\nexit 0\n"
        )
        (bin_dir / "docker").chmod(0o755)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}"}

    def run(
        self, script: str, stdin: str | bytes = b"", timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            ["sh", "-c", script], input=data, capture_output=True, env=self.env, timeout=timeout
        )
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def reloads(self) -> list[str]:
        """What each `caddy reload` got on stdin, in order."""
        files = sorted(self.reload_dir.iterdir(), key=lambda f: int(f.stem))
        return [f.read_text() for f in files]

    def add_route(self, name: str, proxy: ProxySpec, container_id: str) -> Path:
        path = self.p / "routes" / px.route_file(name, proxy)
        path.write_text(px.route_json(name, proxy, container_id) + "\n")
        return path

    def routes(self) -> dict[str, str]:
        return {f.name: f.read_text() for f in sorted((self.p / "routes").iterdir())}

    def config(self) -> dict[str, object]:
        data = json.loads((self.p / "caddy.json").read_text())
        assert isinstance(data, dict)
        return data


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


@pytest.fixture(autouse=True)
def short_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(px, "DRAIN_MIN_SECONDS", 0.1)


def servers(config: dict[str, object]) -> dict[str, dict[str, object]]:
    return config["apps"]["http"]["servers"]  # type: ignore[index]


def dials(routes: list[dict[str, object]]) -> list[str]:
    return [r["handle"][0]["upstreams"][0]["dial"] for r in routes if "group" in r]  # type: ignore[index]


def groups(routes: list[dict[str, object]]) -> list[str]:
    return [str(r.get("group", "")) for r in routes]


def assemble(host: Host, tls: bool) -> subprocess.CompletedProcess[str]:
    script = f"P={shlex.quote(str(host.p))}\n" + "\n".join(px.assemble_lines(tls)) + "\n"
    return host.run(script)


FALLBACK = {
    "handle": [
        {"handler": "static_response", "status_code": 404, "body": "no app is routed here\n"}
    ]
}


# ---------------------------------------------------------------- routes and caddy.json

# names chosen so that alphabetical order is the wrong order
ROUTED = [
    ("aaa", ProxySpec(port=80)),
    ("bbb", ProxySpec(port=81, host="b.example")),
    ("mmm", ProxySpec(port=82, path="/api")),
    ("zzz", ProxySpec(port=83, host="z.example", path="/api/v1")),
    ("yyy", ProxySpec(port=84, path="/api/v1")),
]
ROUTED_ORDER = ["zzz", "bbb", "yyy", "mmm", "aaa"]  # host first, then longer paths first


def test_route_files_sort_host_specific_first_then_longer_paths() -> None:
    names = sorted(px.route_file(n, p) for n, p in ROUTED)
    assert [f.split("=", 1)[1] for f in names] == [f"{n}.json" for n in ROUTED_ORDER]
    assert px.route_file("web", ProxySpec(port=80)) == "29998=web.json"
    assert px.route_file("web", ProxySpec(port=80, host="a.b", path="/api")) == "09995=web.json"


def test_route_json_matches_host_and_path_prefix_and_dials_the_short_id() -> None:
    route = json.loads(px.route_json("web", ProxySpec(8080, "a.example", "/api"), NEW))
    assert route["group"] == "deployer-web" and route["terminal"] is True
    assert route["match"] == [{"host": ["a.example"], "path": ["/api", "/api/*"]}]
    (handler,) = route["handle"]
    assert handler["handler"] == "reverse_proxy"
    assert handler["upstreams"] == [{"dial": f"{NEW[:12]}:8080"}]
    # no matcher at all for the catch-all prefix (a path matcher "/" would match only "/")
    assert "match" not in json.loads(px.route_json("web", ProxySpec(80), NEW))


def test_assemble_writes_valid_json_with_the_routes_in_order_and_404_last(host: Host) -> None:
    for i, (name, proxy) in enumerate(ROUTED):
        host.add_route(name, proxy, f"{i:012d}")
    res = assemble(host, tls=False)
    assert res.returncode == 0, res.stderr
    config = host.config()
    assert config["admin"] == {"listen": "localhost:2019"}
    assert "tls" not in config["apps"]  # type: ignore[operator]
    (server,) = servers(config).values()
    assert server["listen"] == [":80"] and server["automatic_https"] == {"disable": True}
    routes = server["routes"]
    assert isinstance(routes, list)
    assert groups(routes) == [f"deployer-{n}" for n in ROUTED_ORDER] + [""]
    assert routes[-1] == FALLBACK
    assert oct((host.p / "caddy.json").stat().st_mode & 0o777) == "0o600"
    assert not (host.p / "caddy.json.new").exists()


def test_assemble_without_routes_serves_only_the_404(host: Host) -> None:
    assert assemble(host, tls=False).returncode == 0
    (server,) = servers(host.config()).values()
    assert server["routes"] == [FALLBACK]


@pytest.fixture(scope="module")
def pem_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate and its key (PEM text)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=site.example",
            "-addext",
            "subjectAltName=DNS:site.example",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return (d / "cert.pem").read_text(), (d / "key.pem").read_text()


def test_assemble_with_tls_inlines_both_pems_intact(host: Host, pem_pair: tuple[str, str]) -> None:
    cert, key = pem_pair
    (host.p / "tls" / "cert.pem").write_text(cert)
    # a key written on Windows: its CRs go, nothing else changes
    (host.p / "tls" / "key.pem").write_bytes(key.replace("\n", "\r\n").encode())
    host.add_route("web", ProxySpec(port=80, host="site.example"), NEW)
    res = assemble(host, tls=True)
    assert res.returncode == 0, res.stderr
    config = host.config()
    (pair,) = config["apps"]["tls"]["certificates"]["load_pem"]  # type: ignore[index]
    assert pair == {"certificate": cert, "key": key}
    http, https = servers(config)["http"], servers(config)["https"]
    assert http["listen"] == [":80"] and https["listen"] == [":443"]
    assert https["tls_connection_policies"] == [{}]
    assert https["automatic_https"] == {"disable": True}
    assert https["routes"] == http["routes"] and dials(http["routes"]) == [f"{NEW[:12]}:80"]  # type: ignore[arg-type]


# ---------------------------------------------------------------- the switch


def test_a_first_switch_routes_to_the_new_one_and_gives_it_the_name(host: Host) -> None:
    s = spec(host="site.example")
    stale = host.add_route("web", ProxySpec(port=8080, path="/old"), OTHER)  # other prefix
    keep = host.add_route("api", ProxySpec(port=9000, path="/api"), OTHER)
    res = host.run(px.switch_script(s, NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert px.MARK_SWITCHED in res.stdout.splitlines()
    assert not stale.exists() and keep.exists()
    route = json.loads((host.p / "routes" / px.route_file("web", s.proxy)).read_text())  # type: ignore[arg-type]
    assert route["handle"][0]["upstreams"] == [{"dial": f"{NEW[:12]}:8080"}]
    # the proxy got exactly the config on disk, which routes web then api, then the 404
    (given,) = host.reloads()
    assert json.loads(given) == host.config()
    (server,) = servers(host.config()).values()
    assert groups(server["routes"]) == ["deployer-web", "deployer-api", ""]  # type: ignore[arg-type]
    calls = host.calls()
    assert calls[0] == RELOAD
    assert f"rename {NEW} web" in calls
    assert not any(call.startswith("stop") for call in calls), calls
    assert not (host.p / "lock").exists()


def test_a_switch_drains_then_retires_the_old_one(host: Host) -> None:
    host.set_rules({"ps -aq --no-trunc --filter name=^/web$": f"echo {OLD}"})
    host.add_route("web", ProxySpec(port=8080), OLD)
    res = host.run(px.switch_script(spec(), NEW, OLD, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == px.MARK_SWITCHED and out[1].startswith("drained ")
    calls = host.calls()
    assert calls.index(RELOAD) < calls.index(f"stop -t 7 {OLD}")
    assert calls.index(f"stop -t 7 {OLD}") < calls.index(f"rename {OLD} web_prev_{OLD[:12]}")
    assert calls[-1] == f"rename {NEW} web"
    assert list(host.routes()) == ["29998=web.json"]
    assert f'"dial":"{NEW[:12]}:8080"' in host.routes()["29998=web.json"]
    assert not (host.p / "lock").exists()


def test_a_refused_reload_puts_the_previous_routes_back(host: Host) -> None:
    old_route = host.add_route("web", ProxySpec(port=8080, path="/v1"), OLD)
    host.add_route("api", ProxySpec(port=9000, path="/api"), OTHER)
    before = host.routes()
    assert assemble(host, tls=False).returncode == 0
    config_before = host.config()
    host.fail_file.write_text("Error: loading new config: dial tcp: lookup a1a1: no such host\n")
    s = spec(path="/v2")
    res = host.run(px.switch_script(s, NEW, OLD, tls=False, state_dir=str(host.state)))
    assert res.returncode != 0
    assert px.MARK_SWITCHED not in res.stdout
    assert "the proxy refused the new route" in res.stderr
    assert "lookup a1a1: no such host" in res.stderr
    assert host.routes() == before and old_route.exists()
    assert host.config() == config_before  # caddy.json describes what the proxy still runs
    # nothing stopped, nothing renamed; the old config handed again (the failed reload may
    # have been cut after Caddy took the new one)
    assert host.calls() == [RELOAD, RELOAD]
    assert json.loads(host.reloads()[1]) == config_before
    assert not (host.p / "lock").exists()


def test_the_old_one_is_not_stopped_when_the_route_changed_during_the_drain(host: Host) -> None:
    """A restore may route back while the switch drains: then nothing is retired."""
    route = host.p / "routes" / px.route_file("web", ProxySpec(port=8080))
    back = px.route_json("web", ProxySpec(port=8080), OLD)
    # the drain asks docker for the old one's pid: meanwhile, someone routes back to OLD
    host.set_rules(
        {
            f"inspect --format {{{{.State.Pid}}}} {OLD}": (
                f"printf '%s\\n' {shlex.quote(back)} > {shlex.quote(str(route))}"
            ),
            "ps -aq --no-trunc --filter name=^/web$": f"echo {OLD}",
        }
    )
    res = host.run(px.switch_script(spec(), NEW, OLD, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert px.MARK_SWITCHED in res.stdout
    assert "the route changed meanwhile" in res.stderr
    calls = host.calls()
    assert f"inspect --format {{{{.State.Pid}}}} {OLD}" in calls  # the hook did run
    assert not any(call.startswith(("stop", "rename")) for call in calls), calls
    assert not (host.p / "lock").exists()


def test_the_drain_waits_for_connections_on_the_app_port_up_to_its_bound(host: Host) -> None:
    """The old one's connections are counted in /proc/<its pid>/net/tcp (here: this process's
    namespace, where a connection to the app's port stays open)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    try:
        host.set_rules({"inspect --format {{.State.Pid}} *": f"echo {os.getpid()}"})
        lines = px.drain_lines(OLD, port, 0.8)
        t0 = time.monotonic()
        held = host.run("\n".join(lines) + "\n")
        took = time.monotonic() - t0
        # 8 rounds of 0.1 s, or fewer when a loaded machine makes rounds slower and the
        # clock bound (whole seconds of `date`) ends it: either way it waited, to its bound
        drained = re.fullmatch(r"drained (\d)\.(\d)s", held.stdout.strip())
        assert drained, held.stdout + held.stderr
        assert 0 < int(drained[1]) * 10 + int(drained[2]) <= 8
        assert took >= 0.8
    finally:
        for s in (conn, client, server):
            s.close()
    # nothing open on that port any more: the drain ends after its minimum
    lines = px.drain_lines(OLD, port, 0.8)
    assert host.run("\n".join(lines) + "\n").stdout.strip() == "drained 0.0s"


# ---------------------------------------------------------------- the lock


def test_a_stale_lock_whose_pid_is_gone_is_broken(host: Host) -> None:
    (host.p / "lock").mkdir()
    (host.p / "lock" / "pid").write_text("99999999\n")  # above any pid_max
    t0 = time.monotonic()
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert px.MARK_SWITCHED in res.stdout and time.monotonic() - t0 < 3
    assert not (host.p / "lock").exists()


def test_a_lock_without_pid_is_broken_only_when_older_than_a_minute(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(px, "LOCK_WAIT_SECONDS", 1)
    (host.p / "lock").mkdir()
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 1 and "busy" in res.stderr  # a taker may be writing its pid
    old = time.time() - 180
    os.utime(host.p / "lock", (old, old))
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0 and px.MARK_SWITCHED in res.stdout, res.stderr


@pytest.fixture
def live_pid() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "30"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_live_lock_makes_the_switch_wait_then_give_up(
    host: Host, monkeypatch: pytest.MonkeyPatch, live_pid: int
) -> None:
    monkeypatch.setattr(px, "LOCK_WAIT_SECONDS", 1)
    (host.p / "lock").mkdir()
    (host.p / "lock" / "pid").write_text(f"{live_pid}\n")
    t0 = time.monotonic()
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    took = time.monotonic() - t0
    assert res.returncode == 1
    assert "the proxy configuration is busy" in res.stderr
    assert 0.9 < took < 6
    assert host.calls() == [] and host.routes() == {}  # it changed nothing
    assert (host.p / "lock" / "pid").read_text().strip() == str(live_pid)  # not ours to take


def test_a_live_lock_released_meanwhile_lets_the_switch_go_on(host: Host, live_pid: int) -> None:
    (host.p / "lock").mkdir()
    (host.p / "lock" / "pid").write_text(f"{live_pid}\n")
    release = subprocess.Popen(["sh", "-c", f"sleep 0.6; rm -rf {shlex.quote(str(host.p))}/lock"])
    t0 = time.monotonic()
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    release.wait()
    assert res.returncode == 0 and px.MARK_SWITCHED in res.stdout, res.stderr
    assert time.monotonic() - t0 >= 0.5
    assert not (host.p / "lock").exists()


# ---------------------------------------------------------------- route back, drop


def route_back(host: Host, failed: str | None, previous: str | None) -> str:
    lines = px.route_back_lines(spec(), failed, previous, tls=False, state_dir=str(host.state))
    return "\n".join(lines) + "\n"


def test_route_back_routes_to_the_previous_one_when_the_route_names_the_failed_one(
    host: Host,
) -> None:
    host.set_rules(
        {
            f"container inspect --format {{{{.Name}}}} {OLD}": "echo /web_prev_b2b2b2b2b2b2",
            "ps -aq --no-trunc --filter name=^/web$": f"echo {NEW}",
        }
    )
    host.add_route("web", ProxySpec(port=8080), NEW)
    host.add_route("api", ProxySpec(port=9000, path="/api"), OTHER)
    res = host.run(route_back(host, NEW, OLD))
    assert res.returncode == 0, res.stderr
    assert f'"dial":"{OLD[:12]}:8080"' in host.routes()["29998=web.json"]
    calls = host.calls()
    # the failed one had taken the name: it gives it back, the previous one runs under it
    assert calls.index(f"rename {NEW} web_prev_{NEW[:12]}") < calls.index(f"rename {OLD} web")
    assert calls.index(f"rename {OLD} web") < calls.index(f"start {OLD}") < calls.index(RELOAD)
    (given,) = host.reloads()
    (server,) = servers(json.loads(given)).values()
    assert dials(server["routes"]) == [f"{OTHER[:12]}:9000", f"{OLD[:12]}:8080"]  # type: ignore[arg-type]
    assert not (host.p / "lock").exists()


def test_route_back_leaves_a_route_that_names_another_container_alone(host: Host) -> None:
    route = host.add_route("web", ProxySpec(port=8080), OLD)
    before = route.read_text()
    res = host.run(route_back(host, NEW, OLD))
    assert res.returncode == 0, res.stderr
    assert host.calls() == [] and route.read_text() == before
    assert not (host.p / "caddy.json").exists()  # not even reassembled


def test_route_back_without_a_previous_one_drops_the_route(host: Host) -> None:
    host.add_route("web", ProxySpec(port=8080), NEW)
    res = host.run(route_back(host, NEW, None))
    assert res.returncode == 0, res.stderr
    assert host.routes() == {}
    assert host.calls() == [RELOAD]
    (server,) = servers(host.config()).values()
    assert server["routes"] == [FALLBACK]


def test_route_back_without_a_failed_id_is_nothing() -> None:
    assert px.route_back_lines(spec(), None, OLD, tls=False, state_dir="/s") == []


def test_drop_route_without_a_route_file_does_nothing(host: Host) -> None:
    host.add_route("web2", ProxySpec(port=8080), OTHER)  # a name that merely ends like it
    res = host.run(px.drop_route_script("eb2", tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert host.calls() == [] and list(host.routes()) == ["29998=web2.json"]
    assert not (host.p / "lock").exists() and not (host.p / "caddy.json").exists()


def test_drop_route_removes_the_route_and_reloads(host: Host) -> None:
    host.add_route("web", ProxySpec(port=8080, host="a.example"), OLD)
    host.add_route("api", ProxySpec(port=9000, path="/api"), OTHER)
    res = host.run(px.drop_route_script("web", tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert list(host.routes()) == [px.route_file("api", ProxySpec(port=9000, path="/api"))]
    assert host.calls() == [RELOAD]
    (given,) = host.reloads()
    (server,) = servers(json.loads(given)).values()
    assert groups(server["routes"]) == ["deployer-api", ""]  # type: ignore[arg-type]
    assert not (host.p / "lock").exists()


# ---------------------------------------------------------------- ensure


PROXY_INSPECT = (
    'inspect --format {{with index .Config.Labels "deployer.proxy"}}{{.}}{{else}}none{{end}} '
    "{{.State.Running}} deployer-proxy"
)
# the proxy's pid, for the wait until it listens: 0 (no /proc entry) ends that wait at once
PROXY_PID = {"inspect --format {{.State.Pid}} deployer-proxy": "echo 0"}


def test_ensure_creates_the_proxy_and_stores_the_tls_files(
    tmp_path: Path, pem_pair: tuple[str, str]
) -> None:
    host = Host(tmp_path, PROXY_PID)
    shutil.rmtree(host.p)  # a host that never had a proxy
    settings = ProxyHost(
        image="caddy:2.6", http_port=8000, https_port=8443, tls_cert="/c", tls_key="/k"
    )
    cert, key = pem_pair
    script = pxc.ensure_script(settings, str(host.state), cert_len=len(cert.encode()))
    res = host.run(script, stdin=cert + key)
    assert res.returncode == 0, res.stderr
    assert (host.p / "tls" / "cert.pem").read_text() == cert
    assert (host.p / "tls" / "key.pem").read_text() == key
    assert oct((host.p / "tls").stat().st_mode & 0o777) == "0o700"
    assert oct((host.p / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    want = pxc.settings_hash(settings)
    create = (
        "create --name deployer-proxy_next --network deployer "
        f"--label deployer.proxy={want} --restart unless-stopped "
        "-p 8000:80 -p 8443:443 --sysctl net.ipv4.tcp_migrate_req=1 caddy:2.6 caddy run --resume"
    )
    calls = host.calls()
    assert calls.index(create) < calls.index("rename deployer-proxy_next deployer-proxy")
    assert calls.index("rename deployer-proxy_next deployer-proxy") < calls.index(
        "start deployer-proxy"
    )
    assert calls.index("start deployer-proxy") < calls.index(RELOAD)
    (given,) = host.reloads()
    assert json.loads(given)["apps"]["tls"]["certificates"]["load_pem"] == [
        {"certificate": cert, "key": key}
    ]
    assert not (host.p / "lock").exists()


def test_ensure_only_reloads_a_proxy_that_is_up_to_date(host: Host) -> None:
    settings = ProxyHost()
    want = pxc.settings_hash(settings)
    host.set_rules({PROXY_INSPECT: f"echo {want} true", **PROXY_PID})
    (host.p / "tls" / "cert.pem").write_text("left from a TLS setup\n")
    res = host.run(pxc.ensure_script(settings, str(host.state)))
    assert res.returncode == 0, res.stderr
    calls = host.calls()
    assert RELOAD in calls
    assert not any(call.startswith(("create", "rm", "rename", "start")) for call in calls), calls
    assert not (host.p / "tls" / "cert.pem").exists()  # no TLS any more: no key lying around
    assert "tls" not in host.config()["apps"]  # type: ignore[operator]


def test_ensure_fails_when_the_proxy_never_takes_its_config(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ProxyHost()
    host.set_rules({PROXY_INSPECT: f"echo {pxc.settings_hash(settings)} true"})
    host.fail_file.write_text("Error: connection refused\n")
    # the retry loop sleeps 0.2 s up to 75 times: make sleep instant for this one
    (host.root / "bin" / "sleep").write_text("#!/bin/sh\nexit 0\n")
    (host.root / "bin" / "sleep").chmod(0o755)
    res = host.run(pxc.ensure_script(settings, str(host.state)))
    assert res.returncode == 1
    assert "the proxy does not take its config: Error: connection refused" in res.stderr
    assert len(host.reloads()) == 76
    assert not (host.p / "lock").exists()


# ---------------------------------------------------------------- commands.py, proxy mode


def test_a_proxied_container_joins_the_network_and_publishes_no_port() -> None:
    argv = c.run_argv(spec(), None, "t", "me", create_as="web_next_x")
    i = argv.index("--network")
    assert argv[i + 1] == "deployer" and "-p" not in argv
    plain = ContainerSpec(name="web", image="nginx")
    assert "--network" not in c.run_argv(plain, None, "t", "me")


def test_start_next_starts_beside_the_live_one_and_touches_nothing_else(host: Host) -> None:
    host.set_rules({"create *": f"echo {NEW}"})
    script = c.start_next_script(spec(), "t", "me", attempt="att1")
    res = host.run(script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == NEW
    calls = host.calls()
    assert calls[0].startswith("create --name web_next_att1 ") and "--network deployer" in calls[0]
    assert calls[1] == f"start {NEW}"
    assert not any(call.startswith(("stop", "rename", "rm")) for call in calls), calls


def test_start_next_removes_a_new_one_that_does_not_start(host: Host) -> None:
    host.set_rules({"create *": f"echo {NEW}", f"start {NEW}": "exit 1"})
    res = host.run(c.start_next_script(spec(), "t", "me", attempt="att1"))
    assert res.returncode == 1
    assert host.calls()[-1] == f"rm -f {NEW}"


def test_start_retained_starts_the_target_only(host: Host) -> None:
    host.set_rules({f"inspect --format * {OLD}": "echo 172.18.0.5"})
    res = host.run(c.start_retained_script(OLD))
    assert res.returncode == 0, res.stderr
    assert c.parse_addr(res.stdout) == "172.18.0.5"
    assert host.calls()[0] == f"start {OLD}"
    assert not any(call.startswith(("stop", "rename", "rm")) for call in host.calls())


# ---------------------------------------------------------------- a real Caddy


@pytest.mark.skipif(
    not CADDY.exists(),
    reason=f"no Caddy binary at {CADDY} (Caddy 2.6 extracted from the Debian package)",
)
@pytest.mark.parametrize("tls", [False, True])
def test_caddy_validates_the_assembled_config(
    host: Host, pem_pair: tuple[str, str], tls: bool
) -> None:
    for i, (name, proxy) in enumerate(ROUTED):
        host.add_route(name, proxy, f"{i:012x}")
    if tls:
        cert, key = pem_pair
        (host.p / "tls" / "cert.pem").write_text(cert)
        (host.p / "tls" / "key.pem").write_text(key)
    assert assemble(host, tls).returncode == 0
    home = host.root / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    res = subprocess.run(
        [str(CADDY), "validate", "--config", str(host.p / "caddy.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Valid configuration" in res.stdout + res.stderr
    assert ("https" in servers(host.config())) is tls


def test_the_proxy_container_moves_queued_connections_at_a_reload() -> None:
    """Caddy rebinds its port at every reload: without tcp_migrate_req the kernel resets the
    connections queued on the socket it closes. Asked for only where the kernel has it (5.14+:
    the runtime refuses to start a container asking for a sysctl the kernel lacks), and not
    part of the settings hash (a proxy made before is not replaced for it)."""
    settings = ProxyHost(image="caddy:2", http_port=80)
    argv = pxc.run_argv(settings, "p")
    at = argv.index("--sysctl")
    assert argv[at + 1] == "net.ipv4.tcp_migrate_req=1"
    assert at < argv.index("caddy:2")
    assert "--sysctl" not in pxc.run_argv(settings, "p", migrate=False)


def test_a_kernel_without_tcp_migrate_req_gets_a_proxy_without_it(tmp_path: Path) -> None:
    """The probe's other branch, run on a stand-in host: created without the sysctl, with the
    same settings hash (so a later kernel upgrade does not replace the proxy)."""
    host = Host(tmp_path, PROXY_PID)
    shutil.rmtree(host.p)
    settings = ProxyHost(image="caddy:2.6", http_port=8000)
    script = pxc.ensure_script(settings, str(host.state))
    assert script.count(pxc.HAS_MIGRATE) == 1
    res = host.run(script.replace(pxc.HAS_MIGRATE, "[ -e /nonexistent/tcp_migrate_req ]"))
    assert res.returncode == 0, res.stderr
    (create,) = [c for c in host.calls() if c.startswith("create ")]
    assert "--sysctl" not in create
    assert f"--label deployer.proxy={pxc.settings_hash(settings)} " in create
