"""Defects an independent review found in proxy mode's first cut; each test failed before
its fix: PEM text around the blocks, non-ASCII bytes in TLS files, wildcard route order,
an unquoted test in the switch, rollbacks to versions deployed without (or with other)
proxy settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_proxy_scripts import CADDY, NEW, OLD, Host, assemble, spec

from deployer.docker import proxy as px
from deployer.model import HostConn, ProxyHost, ProxySpec
from deployer.remote.ssh import Result
from deployer.targets.proxied import Proxied


@pytest.fixture(autouse=True)
def short_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(px, "DRAIN_MIN_SECONDS", 0.1)


def make_pem(d: Path, subject: str) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", subject, "-utf8"]
        + ["-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return (d / "cert.pem").read_text(), (d / "key.pem").read_text()


# ---------------------------------------------------------------- bug 1


def test_fixed_a_pem_with_a_quote_in_its_text_breaks_caddy_json(tmp_path: Path) -> None:
    """proxy.assemble_lines: `pem()` turns line ends into \\n but does not escape `"` or `\\`.
    `openssl x509 -in c.pem -subject` (and `openssl pkcs12 -nodes`) put a `subject=...` line
    before the PEM block, quoted when the name has a comma: `O = "Acme, Inc."`. Caddy (Go's
    pem.Decode) skips such text, so the file is a valid certificate for it; but caddy.json is
    no longer JSON, so ensure/switch fail on that host for every app."""
    host = Host(tmp_path)
    cert, key = make_pem(tmp_path, "/O=Acme, Inc./CN=site.example")
    cert = 'subject=O = "Acme, Inc.", CN = site.example\n' + cert
    (host.p / "tls" / "cert.pem").write_text(cert)
    (host.p / "tls" / "key.pem").write_text(key)
    assert assemble(host, tls=True).returncode == 0
    text = (host.p / "caddy.json").read_text()
    pair = json.loads(text)["apps"]["tls"]["certificates"]["load_pem"][0]  # was JSONDecodeError
    # the PEM blocks only: the text around them stays behind
    assert pair == {"certificate": cert.split("\n", 1)[1], "key": key}


@pytest.mark.skipif(not CADDY.exists(), reason=f"no Caddy binary at {CADDY}")
def test_fixed_1_caddy_itself_accepts_that_certificate_file(tmp_path: Path) -> None:
    """(Passes: shows bug 1 is ours, not the file's.) The same PEM text, JSON-encoded by
    Python instead of by the shell, is a valid Caddy config."""
    host = Host(tmp_path)
    cert, key = make_pem(tmp_path, "/O=Acme, Inc./CN=site.example")
    (host.p / "tls" / "cert.pem").write_text(cert)
    (host.p / "tls" / "key.pem").write_text(key)
    assert assemble(host, tls=True).returncode == 0
    config = json.loads((host.p / "caddy.json").read_text())
    config["apps"]["tls"]["certificates"]["load_pem"][0]["certificate"] = (
        'subject=O = "Acme, Inc.", CN = site.example\n' + cert
    )
    (tmp_path / "good.json").write_text(json.dumps(config))
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "XDG_DATA_HOME": str(home),
    }
    res = subprocess.run(
        [str(CADDY), "validate", "--config", str(tmp_path / "good.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr[-1000:]


# ---------------------------------------------------------------- bug 2


def test_fixed_an_exact_host_route_comes_before_a_wildcard_one() -> None:
    """proxy.route_file: the order key is (has a host, path length), and ties fall to the
    container NAME. With app `aaa` on `*.example` and app `zzz` on `shop.example` (same
    path), `aaa`'s route comes first and, being terminal, takes every request for
    shop.example: `zzz` never gets traffic. Caddy's own Caddyfile adapter puts exact hosts
    before wildcards."""
    wildcard = px.route_file("aaa", ProxySpec(port=80, host="*.example"))
    exact = px.route_file("zzz", ProxySpec(port=80, host="shop.example"))
    assert sorted([wildcard, exact]) == [exact, wildcard]


# ---------------------------------------------------------------- bug 3


class LocalSession:
    """Runs scripts on the local sh, sending stdin exactly as remote.ssh.Session.start does
    (`chan.sendall(stdin.encode())`: UTF-8)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, script: str, *, stdin: str = "", timeout: float = 300.0) -> Result:
        proc = subprocess.run(
            ["sh", "-c", script], input=stdin.encode(), capture_output=True, env=self.env
        )
        return Result("h1", script, proc.returncode, proc.stdout.decode(), proc.stderr.decode(), 0)


def test_fixed_tls_files_with_a_non_ascii_byte_are_cut_at_the_wrong_place(tmp_path: Path) -> None:
    """targets/proxied.py Proxied.ensure: cert_len counts the certificate's BYTES, the text
    sent is `(cert + key).decode("latin-1")`, which Session.start encodes as UTF-8: every byte
    >= 0x80 becomes two, so `dd count=cert_len` stops early; cert.pem is cut and key.pem
    starts with the certificate's tail. (A PEM with a UTF-8 subject line, e.g. written by
    `openssl x509 -subject -nameopt utf8`, or a friendlyName in a PKCS#12 export.)"""
    host = Host(tmp_path, {"inspect --format {{.State.Pid}} deployer-proxy": "echo 0"})
    cert, key = make_pem(tmp_path, "/O=Bäckerei Müller/CN=site.example")
    cert = "subject=O = Bäckerei Müller, CN = site.example\n" + cert
    (tmp_path / "c.pem").write_text(cert, encoding="utf-8")
    (tmp_path / "k.pem").write_text(key)
    conn = HostConn(
        name="h1",
        address="h1",
        state_dir=str(host.state),
        proxy=ProxyHost(tls_cert=str(tmp_path / "c.pem"), tls_key=str(tmp_path / "k.pem")),
    )
    Proxied(LocalSession(host.env), conn).ensure()  # type: ignore[arg-type]
    # the PEM block only (plain ASCII), the key intact behind it
    assert (host.p / "tls" / "cert.pem").read_bytes() == cert.split("\n", 1)[1].encode()
    assert (host.p / "tls" / "key.pem").read_bytes() == key.encode()


# ---------------------------------------------------------------- bug 4 (minor)


def test_fixed_the_switch_tests_an_unquoted_command_substitution(tmp_path: Path) -> None:
    """proxy.switch_script: `[ $(docker ps ... name=^/web$) != OLD ] || docker rename OLD ...`
    is unquoted: when no container holds the name, `[` fails with a syntax error ("[: !=:
    unexpected operator" on stderr), the `||` branch renames OLD anyway, and
    Proxied.switch appends that stderr to the report as a note."""
    host = Host(tmp_path)
    res = host.run(px.switch_script(spec(), NEW, OLD, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0 and px.MARK_SWITCHED in res.stdout
    assert res.stderr == ""


# ---------------------------------------------------------------- bugs 5 and 6: rollback


class RecordingSession:
    """Answers every command with success (and the switch's marker); keeps the scripts."""

    def __init__(self) -> None:
        self.scripts: list[str] = []

    def run(self, script: str, *, stdin: str = "", timeout: float = 300.0) -> Result:
        self.scripts.append(script)
        return Result("h1", script, 0, px.MARK_SWITCHED + "\ndrained 0.0s\n", "", 0)


def rollback(target_spec: dict[str, object]) -> tuple[bool, list[str]]:
    """`deployer rollback` of proxied `web` (port 8080, health none) to a retained version
    whose recorded public spec is TARGET_SPEC. -> (swap ok, the scripts it ran)."""
    from deployer.model import Observed
    from deployer.targets import Attempt

    live = Observed(id=NEW, name="web", image="web:v2", image_id="i2", labels={}, logical="web")
    target = Observed(
        id=OLD,
        name=f"web_prev_{OLD[:12]}",
        image="web:v1",
        image_id="i1",
        labels={},
        logical="web",
        spec=target_spec,
    )
    session = RecordingSession()
    conn = HostConn(name="h1", address="h1", state_dir="/s")
    proxied = Proxied(session, conn)  # type: ignore[arg-type]
    proxied.ready = True  # the proxy runs
    result = proxied.swap(spec(), live, target, Attempt("att1", "/s"))
    return result.ok, session.scripts


def test_fixed_rollback_to_a_version_from_before_proxy_mode_routes_to_an_unreachable_one() -> None:
    """targets/proxied.py Proxied.swap: the retained target may have been deployed in `ports`
    mode (the version before the switch to proxy mode). It is not on the `deployer` network,
    start_retained_script does not connect it, the health gate probes its bridge address
    (passes), then the route dials <its id>:8080, which Caddy cannot resolve (Docker's DNS
    answers only on a shared network): 502 for every request, and the drain then stops
    the live version. Expected: connect it (`docker network connect deployer <id>`) before
    the gate, or refuse the rollback."""
    ok, scripts = rollback({"image": "web:v1", "ports": ["8080:8080/tcp"]})
    switched = any(px.MARK_SWITCHED in s for s in scripts)
    connected = any(f"network connect deployer {OLD}" in s for s in scripts)
    assert not switched or connected, "routed to a container outside the proxy's network"


def test_fixed_rollback_routes_to_the_port_of_the_current_spec_not_the_targets() -> None:
    """targets/proxied.py Proxied.swap (and docker/proxy.py route_back_lines): the route to the
    retained version is built from the CURRENT playbook spec. v1 ran with proxy.port 80,
    v2 moved to 8080: a rollback routes `<v1 id>:8080`, where v1 does not listen (502),
    then retires v2. Expected: the port v1 was deployed with (its recorded spec), or refuse."""
    ok, scripts = rollback(
        {"image": "web:v1", "proxy": {"port": 80, "host": None, "path": "/", "drain": 30.0}}
    )
    routed = [s for s in scripts if '"dial":"' + OLD[:12] in s]
    assert not ok or all(f'"dial":"{OLD[:12]}:80"' in s for s in routed), routed
