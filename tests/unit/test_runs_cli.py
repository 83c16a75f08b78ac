"""`deployer runs` (issue 15): the local run history, filtered, and one run shown again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport


def record(folder: Path, run: str, playbook: str, status: str, started: str) -> None:
    web = ContainerOutcome("web", "replace", new_image="reg/web:v2", health="passed")
    report = RunReport(
        playbook=playbook,
        started_at=started,
        run=run,
        hosts=[
            HostOutcome(
                "h1", status=status, reason="why" if status == "failed" else "", containers=[web]
            )
        ],  # type: ignore[arg-type]
    )
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "runs.jsonl", "a") as f:
        f.write(json.dumps(report.to_json() | {"command": "deploy"}) + "\n")


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    folder = tmp_path / "deployer"
    record(folder, "aaaa1111", "playbooks/site.yml", "changed", "2025-11-01T10:00:00+00:00")
    record(folder, "bbbb2222", "playbooks/site.yml", "failed", "2099-01-01T10:00:00+00:00")
    record(folder, "cccc3333", "playbooks/db.yml", "ok", "2099-01-02T10:00:00+00:00")
    (folder / "runs.jsonl").open("a").write("not json\n")
    return folder


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def test_runs_lists_and_filters(history: Path) -> None:
    code, out = run("runs")
    assert code == 0 and [ln.split()[0] for ln in out.splitlines()] == [
        "aaaa1111",
        "bbbb2222",
        "cccc3333",
    ]
    assert run("runs", "--status", "failed")[1].split()[0] == "bbbb2222"
    assert [ln.split()[0] for ln in run("runs", "--playbook", "site")[1].splitlines()] == [
        "aaaa1111",
        "bbbb2222",
    ]
    assert [ln.split()[0] for ln in run("runs", "--since", "30d")[1].splitlines()] == [
        "bbbb2222",
        "cccc3333",
    ]
    assert run("runs", "--last", "1")[1].split()[0] == "cccc3333"
    doc = json.loads(run("runs", "-o", "json", "--status", "ok")[1])
    assert [r["run"] for r in doc["runs"]] == ["cccc3333"]


def test_runs_show_renders_a_recorded_report_again(history: Path) -> None:
    code, out = run("runs", "show", "bbbb")
    assert code == 0 and "h1" in out and "failed" in out and "why" in out
    code, out = run("runs", "show", "bbbb2222", "-o", "json")
    assert json.loads(out)["run"] == "bbbb2222"
    assert run("runs", "show", "zzzz")[0] == 5
    assert run("runs", "show", "ab")[0] == 5
    assert run("runs", "--since", "yesterday")[0] == 5


def test_a_corrupt_history_is_skipped_and_never_a_traceback(history: Path) -> None:
    with open(history / "runs.jsonl", "ab") as f:
        f.write(b'\xff\xfe not utf-8\n{"hosts": "abc"}\n{"run": "dddd4444", "command": {}}\n')
        f.write(
            b'{"run": "eeee5555", "hosts": [{"name": "h1", "took": "slow", "containers": []}]}\n'
        )
    code, out = run("runs")
    assert code == 0 and "aaaa1111" in out and "dddd4444" not in out
    assert run("runs", "--status", "failed")[0] == 0
    code, out = run("runs", "show", "eeee")
    assert code in (0, 5) and "Traceback" not in out
    assert run("runs", "--since", "99999999999999d")[0] == 5


def test_the_history_trim_is_atomic_a_crash_while_trimming_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployer.cli import deploy as cli_deploy

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(cli_deploy, "RUNS_MAX_BYTES", 100)
    for i in range(10):
        cli_deploy.record_run({"run": i})
    path = tmp_path / "deployer" / "runs.jsonl"
    before = path.read_text()
    real = Path.write_text

    def crash_halfway(self: Path, data: str, *args: object, **kwargs: object) -> int:
        real(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", crash_halfway)
    cli_deploy.record_run({"run": 10})  # the trim fails: the record is skipped, not corrupted
    monkeypatch.setattr(Path, "write_text", real)
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [".runs.lock", "runs.jsonl"]  # no half
    cli_deploy.record_run({"run": 11})
    runs = [json.loads(line)["run"] for line in path.read_text().splitlines()]
    assert runs[-1] == 11 and runs == sorted(runs) and len(runs) < 10
