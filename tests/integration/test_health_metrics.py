"""Metrics for Prometheus on the lab (issue 15): `health --output prometheus --out FILE` for
node_exporter's textfile collector, and `health --watch S --serve ADDR:PORT` answering
/metrics with the latest round while it watches, then stopping cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from test_deploy import PLAYBOOKS, WEB, cli_env, deploy, deployer, image, start_deployer

pytestmark = pytest.mark.lab
HOST = WEB[0]


@pytest.fixture(scope="module")
def env(lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The demo page deployed on one host; the CLI's own HOME."""
    lab.reset()
    env = cli_env(tmp_path_factory.mktemp("home"))
    res = deploy(lab, env, "web.yml", "--limit", HOST)
    assert res.code == 0, res
    return env


def health_args(lab) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "health", "-i", str(lab.inventory), str(PLAYBOOKS / "web.yml"), "--limit", HOST,
        "-e", "deployer_health_load_warn=1000",
    ]  # fmt: skip


def samples(text: str) -> dict[str, list[Sample]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def one(text: str, name: str, **labels: str) -> float:
    (found,) = [
        s.value for s in samples(text)[name] if all(s.labels[k] == v for k, v in labels.items())
    ]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200
            return str(answer.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_textfile_for_node_exporter(lab, env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "deployer.prom"
    res = deployer(env, *health_args(lab), "-o", "prometheus", "--out", str(out))
    assert res.code == 0, res
    text = out.read_text()
    assert one(text, "deployer_host_verdict", host=HOST, verdict="healthy") == 1
    web = {"host": HOST, "container": "web"}
    assert one(text, "deployer_container_state", state="running", **web) == 1
    assert one(text, "deployer_container_probe_success", kind="http", **web) == 1
    assert 0 < one(text, "deployer_container_probe_latency_seconds", **web) < 6
    assert one(text, "deployer_container_probe_http_status", **web) == 200
    (info,) = samples(text)["deployer_container_info"]
    assert info.labels["image"] == image(lab, "v1") and info.labels["declared"] == "true"
    assert one(text, "deployer_container_image_drift", **web) == 0
    assert time.time() - 600 < one(text, "deployer_container_started_timestamp_seconds", **web)
    assert 0 < one(text, "deployer_host_disk_used_ratio", host=HOST, path="/") <= 1
    assert 0 < one(text, "deployer_host_memory_available_ratio", host=HOST) <= 1
    assert one(text, "deployer_host_memory_total_bytes", host=HOST) > 1 << 20
    assert one(text, "deployer_host_cpus", host=HOST) >= 1
    assert one(text, "deployer_host_reachable", host=HOST) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployer.prom"]


def test_a_port_in_use_is_a_clear_error(lab, env) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = deployer(env, *health_args(lab), "--watch", "1", "--serve", f"127.0.0.1:{port}")
    assert res.code == 1, res
    assert f"error: --serve 127.0.0.1:{port}: cannot listen: Address already in use" in res.stderr
    assert "Traceback" not in res.stderr


def test_watch_serves_the_latest_round_and_stops_on_sigterm(lab, env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    args = [*health_args(lab), "-o", "json", "--out", str(tmp_path / "h.json")]
    proc = start_deployer(env, *args, "--watch", "1", "--serve", f"127.0.0.1:{port}")
    web = {"host": HOST, "container": "web"}

    def wait_for(state: str, verdict: str) -> str:
        """The metrics once a round has seen the container in STATE."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            text = scrape(url)
            if text and samples(text)["deployer_container_state"]:
                if one(text, "deployer_container_state", state=state, **web) == 1:
                    assert one(text, "deployer_host_verdict", host=HOST, verdict=verdict) == 1
                    return text
            time.sleep(0.3)
        raise AssertionError(f"/metrics never showed web {state}")

    try:
        up = wait_for("running", "healthy")
        assert one(up, "deployer_container_probe_success", kind="http", **web) == 1
        first = one(up, "deployer_health_generated_timestamp_seconds")
        assert lab.docker(HOST, "stop", "-t", "0", "web").returncode == 0
        down = wait_for("exited", "unhealthy")  # a later round: the latest one is served
        # whole seconds: two rounds may share one (the state change shows it is a later one)
        assert one(down, "deployer_health_generated_timestamp_seconds") >= first
        assert one(down, "deployer_health_hosts", verdict="unhealthy") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        lab.docker(HOST, "start", "web")
    assert proc.returncode == 130, err
    assert f"serving metrics at {url}" in err and "stopped watching" in err
    assert "Traceback" not in err
    with pytest.raises(ConnectionRefusedError):  # the server went with the watch
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
