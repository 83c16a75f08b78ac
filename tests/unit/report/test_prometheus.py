"""The health report as Prometheus metrics (issue 15): the text parses with prometheus_client's
own parser and carries each host's verdict and the facts of the report; label values are
escaped; no reason text, address or secret ever becomes a label."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from deployer.errors import ConfigError, EnvironmentProblem
from deployer.health.model import (
    VERDICTS,
    ContainerHealth,
    Finding,
    HealthReport,
    HostHealth,
    ProbeResult,
)
from deployer.report import prometheus
from deployer.report.prometheus_http import MetricsServer, parse_listen

SECRET = "s3cr3t-token-value"


def fleet() -> HealthReport:
    """Four hosts, one of each verdict, with every fact the model carries."""
    web = HostHealth(
        name="web1",
        address="10.0.0.11",
        verdict="healthy",
        ssh_latency_ms=1.5,
        engine_version="20.10.24",
        disks=[
            {"path": "/", "mount": "/", "used_pct": 40, "size_kb": 1000, "avail_kb": 600},
            {"path": "/var/lib/docker", "mount": "/", "used_pct": 40, "size_kb": 1000},
        ],
        mem_available_pct=62.5,
        mem_total_kb=2048,
        load=[0.5, 0.25, 0.125],
        cpus=2,
        uptime_s=3600.0,
        clock_offset_s=-0.25,
        took_s=0.2,
        containers=[
            ContainerHealth(
                name="web",
                id="abc",
                declared=True,
                state="running",
                health="healthy",
                restarts=2,
                recent_restarts=1,
                started_at="2024-05-01T11:58:00.5Z",
                image="reg:5000/demo/web:v1",
                digest="sha256:188d",
                wanted_image="reg:5000/demo/web:v1",
                probe=ProbeResult(
                    "http", "127.0.0.1:8080/", True, "HTTP 200 on / in 3 ms", 200, 3.0
                ),
            )
        ],
        proxy={
            "running": True,
            "image": "caddy:2.7",
            "routes": [
                {"name": "web", "host": "example.org", "path": "/", "port": 80, "state": "running"},
                {"name": "api", "host": None, "path": "/api", "port": 80, "state": "exited"},
            ],
        },
    )
    sick = HostHealth(
        name="web2",
        address="10.0.0.12",
        verdict="unhealthy",
        findings=[
            Finding("unhealthy", f"web: HTTP 502 on /healthz: {SECRET}", "web"),
            Finding("degraded", "web runs web:v0, playbook wants v1", "web"),
        ],
        containers=[
            ContainerHealth(
                name="web",
                state="exited",
                restarts=7,
                image="reg:5000/demo/web:v0",
                wanted_image="reg:5000/demo/web:v1",
                probe=ProbeResult("http", "x", False, "HTTP 502", 502, 12.5),
            ),
            ContainerHealth(name="db", declared=True, wanted_image="postgres:16"),
            ContainerHealth(name="cache", state="weird", image="redis@sha256:feed"),
        ],
    )
    slow = HostHealth(
        name="web3",
        address="10.0.0.13",
        verdict="degraded",
        findings=[Finding("degraded", "load 9.00 on 2 CPUs")],
        load=[9.0, 8.0, 7.0],
        cpus=2,
    )
    gone = HostHealth(
        name="web4",
        address=f"{SECRET}.example",
        verdict="unreachable",
        reachable=False,
        findings=[Finding("unreachable", f"cannot connect: {SECRET}")],
    )
    return HealthReport(
        hosts=[web, sick, slow, gone],
        generated_at="2024-05-01T12:00:00+00:00",
        playbook="site.yml",
        took_s=1.25,
    )


def samples(text: str) -> dict[str, list[Sample]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float:
    (found,) = [
        s.value for s in samples(text)[name] if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return found


@pytest.fixture(scope="module")
def text() -> str:
    return prometheus.render(fleet())


def test_every_family_is_a_documented_gauge_with_help(text: str) -> None:
    families = list(text_string_to_metric_families(text))
    assert [f.name for f in families] == list(prometheus.FAMILIES)
    for f in families:
        assert f.type == "gauge" and f.documentation, f.name
        assert f.name.startswith("deployer_")
        for s in f.samples:
            assert set(s.labels) == set(prometheus.FAMILIES[f.name][1]), (f.name, s.labels)


def test_each_host_has_exactly_its_verdict(text: str) -> None:
    for h in fleet().hosts:
        states = {
            s.labels["verdict"]: s.value
            for s in samples(text)["deployer_host_verdict"]
            if s.labels["host"] == h.name
        }
        assert states == {v: float(v == h.verdict) for v in VERDICTS}
    severity = {s.labels["host"]: s.value for s in samples(text)["deployer_host_severity"]}
    assert severity == {"web1": 0, "web2": 2, "web3": 1, "web4": 3}
    counts = {s.labels["verdict"]: s.value for s in samples(text)["deployer_health_hosts"]}
    assert counts == {"healthy": 1, "degraded": 1, "unhealthy": 1, "unreachable": 1}
    assert value(text, "deployer_host_reachable", host="web4") == 0
    assert value(text, "deployer_host_reachable", host="web1") == 1


def test_host_facts_in_base_units(text: str) -> None:
    assert value(text, "deployer_health_generated_timestamp_seconds") == 1714564800
    assert value(text, "deployer_health_duration_seconds") == 1.25
    assert value(text, "deployer_host_ssh_latency_seconds", host="web1") == 0.0015
    assert value(text, "deployer_host_engine_info", host="web1", version="20.10.24") == 1
    disk = {"host": "web1", "path": "/"}
    assert value(text, "deployer_host_disk_used_ratio", **disk) == 0.4
    assert value(text, "deployer_host_disk_size_bytes", **disk) == 1000 * 1024
    assert value(text, "deployer_host_disk_available_bytes", **disk) == 600 * 1024
    assert value(text, "deployer_host_disk_used_ratio", path="/var/lib/docker") == 0.4
    assert value(text, "deployer_host_memory_available_ratio", host="web1") == 0.625
    assert value(text, "deployer_host_memory_total_bytes", host="web1") == 2048 * 1024
    assert [value(text, f"deployer_host_load{m}", host="web3") for m in (1, 5, 15)] == [9, 8, 7]
    assert value(text, "deployer_host_cpus", host="web3") == 2
    assert value(text, "deployer_host_uptime_seconds", host="web1") == 3600
    assert value(text, "deployer_host_clock_offset_seconds", host="web1") == -0.25
    assert value(text, "deployer_host_check_duration_seconds", host="web1") == 0.2
    # an unreachable host has a verdict, not figures it never gave
    hosts_with_disks = {s.labels["host"] for s in samples(text)["deployer_host_disk_used_ratio"]}
    assert hosts_with_disks == {"web1"}


def test_containers_state_probe_restarts_and_version(text: str) -> None:
    web1, web2 = {"host": "web1", "container": "web"}, {"host": "web2", "container": "web"}
    assert value(text, "deployer_container_state", state="running", **web1) == 1
    assert value(text, "deployer_container_state", state="exited", **web1) == 0
    assert value(text, "deployer_container_state", state="exited", **web2) == 1
    assert value(text, "deployer_container_state", state="missing", host="web2", container="db")
    # a state Docker may add one day is its own series, still exactly one 1
    cache = [
        s for s in samples(text)["deployer_container_state"] if s.labels["container"] == "cache"
    ]
    assert {s.labels["state"] for s in cache if s.value == 1} == {"weird"}
    assert len(cache) == len(prometheus.CONTAINER_STATES) + 1
    assert value(text, "deployer_container_health", health="healthy", **web1) == 1
    assert "web2" not in {s.labels["host"] for s in samples(text)["deployer_container_health"]}
    assert value(text, "deployer_container_restarts", **web2) == 7
    assert value(text, "deployer_container_recent_restarts", **web1) == 1
    assert value(text, "deployer_container_probe_success", kind="http", **web1) == 1
    assert value(text, "deployer_container_probe_success", kind="http", **web2) == 0
    assert value(text, "deployer_container_probe_latency_seconds", **web2) == 0.0125
    assert value(text, "deployer_container_probe_http_status", **web2) == 502
    assert value(text, "deployer_container_started_timestamp_seconds", **web1) == 1714564680.5
    assert value(text, "deployer_container_image_drift", **web1) == 0
    assert value(text, "deployer_container_image_drift", **web2) == 1
    (info,) = [
        s for s in samples(text)["deployer_container_info"] if s.labels == {**s.labels, **web1}
    ]
    assert info.value == 1 and info.labels == {
        **web1,
        "image": "reg:5000/demo/web:v1",
        "version": "v1",
        "digest": "sha256:188d",
        "wanted_image": "reg:5000/demo/web:v1",
        "managed": "true",
        "declared": "true",
    }
    # a missing container has a state, nothing else
    db = {"host": "web2", "container": "db"}
    for name in ("deployer_container_info", "deployer_container_restarts"):
        assert not [s for s in samples(text)[name] if s.labels == {**s.labels, **db}]


def test_proxy_and_its_routes(text: str) -> None:
    assert value(text, "deployer_proxy_running", host="web1") == 1
    assert value(text, "deployer_proxy_info", host="web1", image="caddy:2.7") == 1
    assert value(text, "deployer_proxy_route_up", route="web", vhost="example.org") == 1
    assert value(text, "deployer_proxy_route_up", route="api", vhost="", path="/api") == 0
    assert {s.labels["host"] for s in samples(text)["deployer_proxy_running"]} == {"web1"}


def test_no_reason_address_or_secret_in_the_metrics(text: str) -> None:
    assert SECRET not in text
    for h in fleet().hosts:
        assert h.address not in text
        for reason in h.reasons:
            assert reason not in text


def test_one_series_per_label_set(text: str) -> None:
    for name, found in samples(text).items():
        keys = [tuple(sorted(s.labels.items())) for s in found]
        assert len(keys) == len(set(keys)), name


ODD = [
    'quo"te',
    "back\\slash",
    "new\nline",
    "brace}{,=",
    "ümlaut-名前",
    "esc\x1b[31m",
    "trailing\\",
]


@pytest.mark.parametrize("name", ODD)
def test_odd_names_are_escaped_and_read_back(name: str) -> None:
    report = HealthReport(
        hosts=[
            HostHealth(
                name=name,
                address="a",
                containers=[ContainerHealth(name=name, state="running", image=f"{name}:1")],
            )
        ],
        generated_at="2024-05-01T12:00:00+00:00",
    )
    text = prometheus.render(report)
    assert value(text, "deployer_host_verdict", host=name, verdict="healthy") == 1
    (info,) = samples(text)["deployer_container_info"]
    assert info.labels["container"] == name and info.labels["image"] == f"{name}:1"
    assert all(line.startswith(("#", "deployer_")) for line in text.splitlines())


def test_an_empty_fleet_still_says_when_and_how_many() -> None:
    text = prometheus.render(HealthReport(hosts=[], generated_at="2024-05-01T12:00:00+00:00"))
    assert value(text, "deployer_health_hosts", verdict="healthy") == 0
    assert not samples(text)["deployer_host_verdict"]


@pytest.mark.parametrize(
    "stamp, epoch",
    [
        ("2024-05-01T12:00:00+00:00", 1714564800.0),
        ("2024-05-01T12:00:00Z", 1714564800.0),
        ("2024-05-01T12:00:00.250000000Z", 1714564800.25),
        ("2024-05-01T14:00:00.5+02:00", 1714564800.5),
        ("2024-05-01T12:00:00", 1714564800.0),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_epoch(stamp: str, epoch: float | None) -> None:
    assert prometheus.epoch(stamp) == epoch


@pytest.mark.parametrize(
    "image, version",
    [
        ("reg:5000/demo/web:1.4.2", "1.4.2"),
        ("reg:5000/demo/web:1.4.2@sha256:ab", "1.4.2"),
        ("reg:5000/demo/web", "latest"),
        ("web@sha256:ab", "sha256:ab"),
        ("", ""),
    ],
)
def test_version(image: str, version: str) -> None:
    assert prometheus.version(image) == version


@pytest.mark.parametrize(
    "text, listen",
    [
        ("127.0.0.1:9105", ("127.0.0.1", 9105)),
        ("0.0.0.0:9105", ("0.0.0.0", 9105)),
        ("[::1]:9105", ("::1", 9105)),
        (":9105", ("127.0.0.1", 9105)),
        ("9105", ("127.0.0.1", 9105)),
        ("localhost:9105", ("localhost", 9105)),
    ],
)
def test_parse_listen(text: str, listen: tuple[str, int]) -> None:
    assert parse_listen(text) == listen


@pytest.mark.parametrize("text", ["", "127.0.0.1", "127.0.0.1:http", "h:0", "h:65536", "h:-1"])
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="wants ADDR:PORT"):
        parse_listen(text)


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    s = MetricsServer("127.0.0.1", 0)
    try:
        yield s
    finally:
        s.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_the_server_serves_the_latest_report(server: MetricsServer) -> None:
    assert get(server.url) == (200, "")  # nothing before the first round
    server.update(fleet())
    status, text = get(server.url)
    assert status == 200 and value(text, "deployer_host_severity", host="web2") == 2
    later = fleet()
    later.hosts = later.hosts[:1]
    server.update(later)
    _, text = get(server.url)
    assert {s.labels["host"] for s in samples(text)["deployer_host_verdict"]} == {"web1"}
    assert get(server.url.replace("/metrics", "/nope"))[0] == 404
    assert get(server.url.replace("/metrics", "/"))[0] == 200


def test_a_port_in_use_is_an_environment_problem(server: MetricsServer) -> None:
    with pytest.raises(EnvironmentProblem, match=rf"127.0.0.1:{server.port}: cannot listen: "):
        MetricsServer("127.0.0.1", server.port)


def test_closing_frees_the_port() -> None:
    s = MetricsServer("127.0.0.1", 0)
    s.close()
    MetricsServer("127.0.0.1", s.port).close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(s.url, timeout=5)
