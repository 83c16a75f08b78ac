"""`deployer health --output prometheus [--out FILE]` and `--watch S --serve ADDR:PORT`
(issue 15), hosts faked: what the command writes, serves, refuses, and how it stops."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from deployer.cli import main
from deployer.health.model import ContainerHealth, Finding, HostHealth

gathermod = importlib.import_module("deployer.health.gather")
healthcli = importlib.import_module("deployer.cli.health")


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    path = tmp_path / "inv.yml"
    path.write_text(
        "web:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n    h2: {ansible_host: 127.0.0.1}\n"
    )
    return path


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No host is contacted: h1 is healthy, h2 unhealthy with an exited container."""
    seen: list[str] = []

    def fake_check(session: Any, conn: Any, specs: Any, thresholds: Any) -> HostHealth:
        seen.append(conn.name)
        if conn.name == "h1":
            return HostHealth(name="h1", address=conn.address)
        return HostHealth(
            name=conn.name,
            address=conn.address,
            verdict="unhealthy",
            findings=[Finding("unhealthy", "web: exited", "web")],
            containers=[ContainerHealth(name="web", state="exited", image="app:1")],
        )

    monkeypatch.setattr(gathermod, "check_host", fake_check)
    return seen


def health(inv: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["health", "-i", str(inv), *args])


def verdicts(text: str) -> dict[str, str]:
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "deployer_host_verdict"
    ]
    return {s.labels["host"]: s.labels["verdict"] for s in family.samples if s.value == 1}


def test_output_prometheus_on_stdout(inv: Path, checked: list[str]) -> None:
    result = health(inv, "-o", "prometheus")
    assert result.exit_code == 3, result.output
    assert verdicts(result.stdout) == {"h1": "healthy", "h2": "unhealthy"}


def test_out_is_written_whole_through_a_temp_file_in_its_folder(
    inv: Path, checked: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "textfile" / "deployer.prom"
    out.parent.mkdir()
    out.write_text("# the previous round\n")
    renames: list[tuple[Path, Path, str]] = []
    replace = Path.replace

    def recording_replace(self: Path, target: Any) -> Path:
        renames.append((self, Path(target), out.read_text()))
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", recording_replace)
    result = health(inv, "-o", "prometheus", "--out", str(out))
    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    ((tmp, target, before),) = renames
    # the new text goes to a file node_exporter ignores (not *.prom) in the same folder, and
    # replaces the old one in one rename: a scrape sees the previous round or this one
    assert target == out and tmp.parent == out.parent and not tmp.name.endswith(".prom")
    assert before == "# the previous round\n"
    assert verdicts(out.read_text()) == {"h1": "healthy", "h2": "unhealthy"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["deployer.prom"]


def test_a_failed_write_leaves_the_previous_file_whole(
    inv: Path, checked: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "deployer.prom"
    out.write_text("# the previous round\n")
    write_text = Path.write_text

    def disk_full(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        write_text(self, data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    result = health(inv, "-o", "prometheus", "--out", str(out))
    assert result.exit_code == 5 and "No space left on device" in result.output
    assert out.read_text() == "# the previous round\n"
    assert [p.name for p in tmp_path.iterdir() if p.name != "inv.yml"] == ["deployer.prom"]


def test_serve_goes_with_watch(inv: Path, checked: list[str]) -> None:
    result = health(inv, "--serve", "127.0.0.1:9105")
    assert result.exit_code == 5 and "--serve goes with --watch" in result.output
    assert checked == []


def test_a_bad_listen_address_is_an_input_error(inv: Path, checked: list[str]) -> None:
    result = health(inv, "--watch", "1", "--serve", "127.0.0.1:metrics")
    assert result.exit_code == 5 and "wants ADDR:PORT" in result.output
    assert checked == []


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_exit_1_before_any_host_is_checked(
    inv: Path, checked: list[str], taken_port: int
) -> None:
    result = health(inv, "--watch", "1", "--serve", f"127.0.0.1:{taken_port}")
    assert result.exit_code == 1, result.output
    assert f"error: --serve 127.0.0.1:{taken_port}: cannot listen: " in result.stderr
    assert "in use" in result.stderr and "Traceback" not in result.output
    assert checked == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_watch_serves_each_rounds_metrics_and_stops_cleanly(
    inv: Path, checked: list[str], monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    scraped: list[str] = []

    def between_rounds(seconds: float) -> None:
        with urllib.request.urlopen(url, timeout=10) as answer:
            scraped.append(answer.read().decode())
        if len(scraped) == 2:
            if stop == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            raise KeyboardInterrupt

    monkeypatch.setattr(healthcli.time, "sleep", between_rounds)
    handler = signal.getsignal(signal.SIGTERM)
    result = health(inv, "--watch", "1", "--serve", f"127.0.0.1:{port}", "-o", "json")
    assert result.exit_code == 130, result.output
    assert f"serving metrics at {url}" in result.stderr
    assert "stopped watching" in result.stderr
    assert [verdicts(t) for t in scraped] == [{"h1": "healthy", "h2": "unhealthy"}] * 2
    assert checked == ["h1", "h2"] * 2
    assert signal.getsignal(signal.SIGTERM) == handler  # put back
    with pytest.raises(ConnectionRefusedError):  # the server is gone with the watch
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
