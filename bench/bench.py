"""Time deployer against the floor (plain ssh), ansible-playbook and pyinfra on the lab.

Run by bench/run.sh with the anchors venv's python (it has psutil, PyYAML via
ansible, matplotlib). Writes bench/results/*.json; bench/report.py turns them
into BENCHMARKS.md and bench/scale.png.

Per repetition and per contender (contender order rotates each repetition, so
noise from the rest of the machine falls on every tool alike):
  reset hosts (remove all containers and the demo images)
  first_deploy  v1, timed, then checked: every host serves "deployer demo v1"
  noop          v1 again, timed, checked
  health        report of every host, timed (exit 0 and, for deployer, JSON says healthy)
  rollout       v1 -> v2, timed, checked: every host serves "deployer demo v2"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contenders as C  # noqa: E402

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- measuring one command
def tree_rss(root: psutil.Process) -> int:
    """The RSS of a process and all its descendants now, in bytes (those gone meanwhile
    count nothing)."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 600
) -> dict[str, Any]:
    """Wall time (monotonic), CPU time of the whole process tree (wait4), peak RSS of the tree (sampled)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    full_env = {**os.environ, **(env or {})}
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=out, stderr=err, env=full_env, start_new_session=True)
    box: dict[str, Any] = {}

    def reap() -> None:
        _, status, ru = os.wait4(proc.pid, 0)
        box["end"] = time.monotonic()
        box["rc"] = os.waitstatus_to_exitcode(status)
        box["cpu"] = ru.ru_utime + ru.ru_stime
        box["maxrss_single_kb"] = ru.ru_maxrss

    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    peak = 0
    try:
        root = psutil.Process(proc.pid)
    except psutil.Error:
        root = None
    while waiter.is_alive():
        if root is not None:
            peak = max(peak, tree_rss(root))
        waiter.join(0.05)
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, 9)
    proc.returncode = box.get("rc", -1)
    out.seek(0)
    err.seek(0)
    return {
        "wall": box["end"] - t0,
        "rc": box["rc"],
        "cpu": box["cpu"],
        "peak_rss_mb": peak / 2**20,
        "maxrss_single_mb": box["maxrss_single_kb"] / 1024,
        "stdout": out.read().decode(errors="replace"),
        "stderr": err.read().decode(errors="replace"),
    }


# ---------------------------------------------------------------- the lab's hosts
def each_host(lab: C.Lab, hosts: dict[str, str], script: str) -> list[int]:
    def one(addr: str) -> int:
        return subprocess.run(lab.ssh(addr) + [script], capture_output=True, timeout=120).returncode

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        return list(pool.map(one, hosts.values()))


def reset(lab: C.Lab, hosts: dict[str, str]) -> None:
    imgs = " ".join(lab.images.values())
    each_host(
        lab,
        hosts,
        f'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null; '
        f"docker rmi -f {imgs} >/dev/null 2>&1; true",
    )


def page_version(addr: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{addr}:8080/", timeout=5) as r:
            body = r.read().decode(errors="replace")
    except Exception as e:  # noqa: BLE001
        return f"error: {e}"
    for v in ("v1", "v2"):
        if f"deployer demo {v}" in body:
            return v
    return "other"


def verify(hosts: dict[str, str], version: str) -> tuple[bool, dict[str, str]]:
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        seen = dict(zip(hosts, pool.map(page_version, hosts.values()), strict=True))
    return all(v == version for v in seen.values()), seen


# ---------------------------------------------------------------- one contender, one scenario
class Runner:
    def __init__(self, args: argparse.Namespace, lab: C.Lab, work: Path) -> None:
        self.args, self.lab, self.work = args, lab, work
        self.venv = Path(args.venv).resolve()
        self.deployer = args.deployer
        C.deployer_files(work)
        self.health_ready = self._has_health()
        self.invs: dict[int, Path] = {}
        self.pyinfra_invs: dict[int, Path] = {}

    def _has_health(self) -> bool:
        r = subprocess.run([self.deployer, "health", "--help"], capture_output=True, text=True)
        return r.returncode == 0

    def inv(self, n: int) -> Path:
        if n not in self.invs:
            self.invs[n] = self.lab.sub_inventory(n, self.work / f"inv-{n}.yml")
            self.pyinfra_invs[n] = C.pyinfra_files(self.lab, self.lab.first(n), self.work)
        return self.invs[n]

    def argv(
        self, who: str, scenario: str, version: str, n: int, run_dir: Path
    ) -> tuple[list[str], dict[str, str]]:
        image = self.lab.images[version]
        inv = self.inv(n)
        if who == "deployer":
            return C.deployer_argv(self.deployer, scenario, version, inv, n, self.work), {
                "XDG_STATE_HOME": str(run_dir)
            }
        if who == "floor":
            return C.floor_argv(self.lab, scenario, image, self.lab.first(n), run_dir), {}
        if who == "ansible":
            C.ansible_files(self.lab, self.venv, self.work, n)
            (run_dir / "tmp").mkdir(exist_ok=True)
            return C.ansible_argv(self.venv, scenario, image, inv, self.work), C.ansible_env(
                self.work, run_dir
            )
        return C.pyinfra_argv(self.venv, scenario, image, self.pyinfra_invs[n], n, self.work), {}

    def run(self, who: str, scenario: str, version: str, n: int) -> dict[str, Any]:
        run_dir = Path(tempfile.mkdtemp(prefix=f"{who}-", dir=self.work))
        argv, env = self.argv(who, scenario, version, n, run_dir)
        res = measure(argv, env)
        hosts = self.lab.first(n)
        rec: dict[str, Any] = {
            "contender": who,
            "scenario": scenario,
            "hosts": n,
            "version": version,
            **{k: res[k] for k in ("wall", "rc", "cpu", "peak_rss_mb", "maxrss_single_mb")},
        }
        ok = res["rc"] == 0 or (who == "deployer" and scenario == "health" and res["rc"] == 3)
        rec["health_verdicts"] = (
            self._verdicts(res["stdout"]) if (who, scenario) == ("deployer", "health") else None
        )
        if scenario == "health":
            rec["verified"] = ok and self._health_ok(who, res["stdout"], n)
        else:
            good, seen = verify(hosts, version)
            rec["verified"] = ok and good
            if not good:
                rec["seen"] = seen
        if who == "deployer" and scenario != "health":
            rec.update(self._deployer_counts(res["stdout"]))
        if not rec["verified"]:
            rec["stderr_tail"] = res["stderr"][-1500:]
            rec["stdout_tail"] = res["stdout"][-1500:]
        shutil.rmtree(run_dir, ignore_errors=True)
        status = "ok" if rec["verified"] else "NOT VERIFIED"
        print(
            f"  {who:9} {scenario:13} n={n:<3} {rec['wall']:7.2f}s cpu={rec['cpu']:6.2f}s "
            f"rss={rec['peak_rss_mb']:6.0f}MB {status}",
            flush=True,
        )
        return rec

    @staticmethod
    def _health_ok(who: str, stdout: str, n: int) -> bool:
        """deployer health exits 3 when a host is merely degraded (e.g. load on this shared
        machine): the work counts when every host was reached and its `web` probe answered."""
        if who != "deployer":
            return True
        try:
            hosts = json.loads(stdout)["hosts"]
            return len(hosts) == n and all(
                h.get("reachable")
                and any(
                    c.get("name") == C.CONTAINER and (c.get("probe") or {}).get("ok")
                    for c in h.get("containers", [])
                )
                for h in hosts
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return False

    @staticmethod
    def _verdicts(stdout: str) -> dict[str, int] | None:
        try:
            out: dict[str, int] = {}
            for h in json.loads(stdout)["hosts"]:
                out[h["verdict"]] = out.get(h["verdict"], 0) + 1
            return out
        except (ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _deployer_counts(stdout: str) -> dict[str, Any]:
        try:
            data = json.loads(stdout)
            hosts = data["hosts"]
            return {
                "commands_per_host": [h.get("commands") for h in hosts],
                "connections_per_host": [h.get("connections") for h in hosts],
            }
        except (ValueError, KeyError, TypeError):
            return {}


# ---------------------------------------------------------------- the plan
def compare(r: Runner, n: int, reps: int, out: list[dict[str, Any]], results: Path) -> None:
    order = list(C.CONTENDERS)
    for rep in range(reps):
        rot = order[rep % len(order) :] + order[: rep % len(order)]
        print(f"rep {rep + 1}/{reps}: order {rot}", flush=True)
        for who in rot:
            reset(r.lab, r.lab.first(n))
            seq = [("first_deploy", "v1"), ("noop", "v1"), ("health", "v1"), ("rollout", "v2")]
            for scenario, version in seq:
                if scenario == "health" and who == "deployer" and not r.health_ready:
                    continue
                rec = r.run(who, scenario, version, n)
                rec["rep"] = rep
                out.append(rec)
                save(results, out)


def scale(
    r: Runner,
    sizes: list[int],
    reps: int,
    out: list[dict[str, Any]],
    results: Path,
    who_all: tuple[str, ...] = ("deployer",),
) -> None:
    """Per size, per contender: one untimed deploy (so the no-op finds that tool's own
    container: deployer does not adopt a container it did not make), then its repetitions,
    no-op and health alternating."""
    for n in sizes:
        print(f"scale: {n} hosts", flush=True)
        for who in who_all:
            reset(r.lab, r.lab.first(n))
            warm = r.run(who, "first_deploy", "v1", n)
            warm["rep"] = -1
            out.append(warm)
            for rep in range(reps):
                for scenario in ("noop", "health"):
                    if scenario == "health" and who == "deployer" and not r.health_ready:
                        continue
                    rec = r.run(who, scenario, "v1", n)
                    rec["rep"] = rep
                    out.append(rec)
                    save(results, out)


def done(results: Path, part: str, meta: dict[str, Any]) -> None:
    """machine.json keeps one entry per part, so a scale-only run leaves the comparison's record."""
    path = results / "machine.json"
    try:
        allm = json.loads(path.read_text())
        allm = allm if "compare" in allm or "scale" in allm else {}
    except (OSError, ValueError):
        allm = {}
    meta = json.loads(json.dumps(meta))
    meta["finished"] = time.strftime("%Y%m%dT%H%M%S")
    meta["machine"]["load_after"] = os.getloadavg()
    allm[part] = meta
    path.write_text(json.dumps(allm, indent=1))


def save(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps(records, indent=1))


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    os_name = ""
    try:
        os_name = (
            dict(
                line.split("=", 1)
                for line in Path("/etc/os-release").read_text().splitlines()
                if "=" in line
            )
            .get("PRETTY_NAME", "")
            .strip('"')
        )
    except OSError:
        pass

    def ver(argv: list[str]) -> str:
        try:
            return (
                subprocess.run(argv, capture_output=True, text=True, timeout=30)
                .stdout.strip()
                .splitlines()[0]
            )
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem, 1),
        "os": os_name,
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {
            "deployer": ver([os.environ.get("BENCH_DEPLOYER", "deployer"), "--version"]),
            "ansible": ver(
                [str(Path(os.environ.get("BENCH_VENV", "")) / "bin/ansible-playbook"), "--version"]
            ),
            "pyinfra": ver(
                [str(Path(os.environ.get("BENCH_VENV", "")) / "bin/pyinfra"), "--version"]
            ),
            "openssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip(),
            "docker": ver(["docker", "--version"]),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--lab-name", required=True)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--scale", default="1,3,10,30", help="host counts for deployer's scale curve ('' = skip)"
    )
    ap.add_argument("--scale-reps", type=int, default=3)
    ap.add_argument(
        "--scale-contenders",
        default="deployer",
        help="who runs the scale curve, e.g. 'deployer,floor'",
    )
    ap.add_argument("--venv", required=True)
    ap.add_argument("--deployer", required=True)
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--only", default="compare,scale")
    args = ap.parse_args()

    lab = C.Lab.load(Path(args.inventory), args.lab_name)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deployer-bench-"))
    r = Runner(args, lab, work)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    meta = {
        "started": stamp,
        "machine": machine(),
        "hosts": args.hosts,
        "reps": args.reps,
        "scale": args.scale,
        "scale_reps": args.scale_reps,
        "scale_contenders": args.scale_contenders,
        "deployer_exe": args.deployer,
        "deployer_health": r.health_ready,
        "poll_seconds": C.POLL,
    }
    if not r.health_ready:
        print("deployer health is not available yet: its runs are skipped (pending)", flush=True)
    parts = [p for p in ("compare", "scale") if p in args.only]
    if "compare" in parts:
        recs: list[dict[str, Any]] = []
        compare(r, args.hosts, args.reps, recs, results / "compare.json")
        done(results, "compare", meta)
    sizes = [int(s) for s in args.scale.split(",") if s.strip() and int(s) <= len(lab.hosts)]
    if "scale" in parts and sizes:
        meta["started"] = time.strftime("%Y%m%dT%H%M%S")
        meta["machine"]["load_before"] = os.getloadavg()
        srecs: list[dict[str, Any]] = []
        scale(
            r,
            sizes,
            args.scale_reps,
            srecs,
            results / "scale.json",
            tuple(w for w in args.scale_contenders.split(",") if w in C.CONTENDERS),
        )
        done(results, "scale", meta)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
