"""Requests failed during rollouts (issue 11): deployer with its proxy, deployer with plain
ports, the floor (plain ssh + docker), ansible-playbook and pyinfra, in one run on one lab.

Run by bench/run.sh (`--only traffic`) with the anchors venv's python. Writes
bench/results/traffic.json; `bench/report.py --traffic-only` puts its table into
BENCHMARKS.md.

While each timed command runs, deployer's load generator (deployer/lab/load.py) sends
`GET /` on a new connection to every host's public port every `--interval` s, and every
`--slow-every` s a 3-second request (/cgi-bin/slow) per host. The public port is 80 (the
proxy, `deployer_proxy_http_port`) for deployer (proxy), 8080 (`-p 8080:80`) for the rest.
Per contender, in one fixed order:
  reset hosts (containers, demo images, deployer's host state)
  deploy v1                                   untimed, no load
  rollout  v1 -> v2                           timed, under load; then every host must serve v2
  deploy v1                                   untimed, no load
  failed   v1 -> the lab's never-healthy image, timed, under load; then every host must serve v1
           deployer: one command (its health gate keeps or restores v1, exit 3);
           floor, ansible, pyinfra: their deploy of that image (replace, then poll the page:
           it times out after the same 60 s) and then their deploy of v1, back to back.
           (ansible's poll is bounded by those 60 s of time instead of 240 `uri` tries:
           under this load 240 tries took over 10 minutes.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # deployer.lab.load (standard library only)
sys.path.insert(0, str(HERE))
import contenders as C  # noqa: E402

import bench as B  # noqa: E402
from deployer.lab.load import Load, Record  # noqa: E402

WHO = ("deployer-proxy", "deployer-ports", "floor", "ansible", "pyinfra")
CASES = (("rollout", "v2"), ("failed", "unhealthy"))
BEFORE, AFTER = 1.5, 1.0  # seconds of load around the command(s): slow requests in flight
# deployer's JSON says per host "drained Xs": X counts after the drain's fixed first second
# (DRAIN_MIN_SECONDS in deployer/docker/proxy.py)
DRAINED, DRAIN_MIN = re.compile(r"drained ([0-9]+(?:\.[0-9]+)?)s"), 1.0
RESETS = ("ConnectionResetError", "RemoteDisconnected")  # Caddy 2.6's reload caveat


def reset(lab: C.Lab, hosts: dict[str, str]) -> None:
    """bench.reset, plus deployer's own state on the hosts (routes, proxy config, history)."""
    B.reset(lab, hosts)
    B.each_host(lab, hosts, "rm -rf /var/lib/deployer/* 2>/dev/null; true")


class Traffic:
    def __init__(self, r: B.Runner, n: int) -> None:
        self.r, self.n = r, n
        self.hosts = r.lab.first(n)
        r.inv(n)
        C.deployer_files(r.work, ("v1", "v2", "unhealthy"))
        C.deployer_files(r.work, ("v1", "v2", "unhealthy"), proxy=True)

    def argv(self, who: str, version: str) -> tuple[list[str], dict[str, str]]:
        """One command line; a fresh folder per run (ansible's ControlPath, deployer's local
        state), so every command starts with cold connections, as in bench.py."""
        run_dir = Path(tempfile.mkdtemp(prefix=f"{who}-", dir=self.r.work))
        if who.startswith("deployer"):
            argv = C.deployer_argv(
                self.r.deployer,
                "rollout",
                version,
                self.r.inv(self.n),
                self.n,
                self.r.work,
                proxy=who == "deployer-proxy",
            )
            return argv, {"XDG_STATE_HOME": str(run_dir)}
        if who == "ansible":  # the comparison's playbook, its page poll bounded by time
            r = self.r
            C.ansible_files(r.lab, r.venv, r.work, self.n, deadline=C.POLL * C.RETRIES)
            (run_dir / "tmp").mkdir()
            image = r.lab.images[version]
            argv = C.ansible_argv(r.venv, "rollout", image, r.inv(self.n), r.work)
            return argv, C.ansible_env(r.work, run_dir)
        return self.r.argv(who, "rollout", version, self.n, run_dir)

    def commands(self, who: str, case: str, version: str) -> list[str]:
        """What one case runs: deployer deploys once; the others have no gate or rollback,
        so a failed rollout is their deploy of the bad image, then their deploy of v1."""
        if case == "failed" and not who.startswith("deployer"):
            return [version, "v1"]
        return [version]

    def contender(self, who: str, interval: float, slow_every: float) -> list[dict[str, Any]]:
        reset(self.r.lab, self.hosts)
        port = 80 if who == "deployer-proxy" else 8080
        targets = {h: (addr, port) for h, addr in self.hosts.items()}
        out = []
        for case, version in CASES:
            self.untimed(who, "v1")
            steps = []
            with Load(targets, interval=interval, slow_every=slow_every) as load:
                time.sleep(BEFORE)
                t0 = time.monotonic()
                for v in self.commands(who, case, version):
                    argv, env = self.argv(who, v)
                    res = B.measure(argv, env)
                    steps.append({"version": v, "wall": res["wall"], "rc": res["rc"]})
                    if who == "deployer-proxy":  # per host, how long the old one drained
                        steps[-1]["drained"] = [
                            DRAIN_MIN + float(x) for x in DRAINED.findall(res["stdout"])
                        ]
                    if res["rc"] not in (0, 3):
                        steps[-1]["stderr_tail"] = res["stderr"][-1500:]
                t1 = time.monotonic()
                time.sleep(AFTER)
            rec = self.record(who, case, port, load, t0, t1, steps)
            out.append(rec)
            print(
                f"  {who:14} {case:7} n={self.n} wall={rec['wall']:6.1f}s "
                f"rc={','.join(str(s['rc']) for s in steps)} requests={rec['requests']} "
                f"failed={rec['failed']} slow={rec['slow_completed']}/{rec['slow']} "
                f"outage={rec['longest_outage']:.1f}s "
                f"{'ok' if rec['verified'] else 'NOT VERIFIED'}",
                flush=True,
            )
        return out

    def untimed(self, who: str, version: str) -> None:
        argv, env = self.argv(who, version)
        res = B.measure(argv, env)
        if res["rc"] != 0:
            raise SystemExit(
                f"{who}: untimed deploy of {version} failed (rc {res['rc']}): "
                f"{res['stderr'][-1500:]}{res['stdout'][-1500:]}"
            )

    def record(
        self,
        who: str,
        case: str,
        port: int,
        load: Load,
        t0: float,
        t1: float,
        steps: list[dict[str, Any]],
    ) -> dict[str, Any]:
        s = load.summary()
        failed = load.failed()
        want = "v2" if case == "rollout" else "v1"
        after = load.versions_after(t1)  # requests started once the command(s) returned
        return {
            "contender": who,
            "case": case,
            "hosts": self.n,
            "port": port,
            "wall": t1 - t0,
            "steps": steps,
            "requests": s["requests"],
            "failed": s["failed"],
            "failed_fast": sum(1 for f in failed if f.kind == "fast"),
            "failed_resets": sum(1 for f in failed if f.error.startswith(RESETS)),
            "errors": dict(Counter(f.error.split(":")[0] for f in failed).most_common()),
            "slow": s["slow"],
            "slow_completed": s["slow_completed"],
            "longest_outage": longest_outage(load.records),
            "served_after": {h: sorted(v) for h, v in after.items()},
            "verified": all(v == {want} for v in after.values()),
        }


def longest_outage(records: list[Record]) -> float:
    """The longest stretch, on any one host, from a failed `GET /` to the next one that
    succeeded (start to start); to the last request's end when none succeeded after."""
    worst = 0.0
    by_host: dict[str, list[Record]] = {}
    for rec in records:
        if rec.kind == "fast":
            by_host.setdefault(rec.target, []).append(rec)
    for recs in by_host.values():
        recs.sort(key=lambda x: x.start)
        since = None
        for rec in recs:
            if not rec.ok and since is None:
                since = rec.start
            elif rec.ok and since is not None:
                worst = max(worst, rec.start - since)
                since = None
        if since is not None:
            worst = max(worst, recs[-1].end - since)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--lab-name", required=True)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--deployer", required=True)
    ap.add_argument("--interval", type=float, default=0.01, help="s between GET / per host")
    ap.add_argument("--slow-every", type=float, default=1.0, help="s between 3 s requests")
    ap.add_argument("--contenders", default=",".join(WHO))
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args()

    lab = C.Lab.load(Path(args.inventory), args.lab_name)
    data = yaml.safe_load(Path(args.inventory).read_text())
    lab.images["unhealthy"] = data["all"]["vars"]["lab_image_unhealthy"]  # reset removes it too
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deployer-traffic-"))
    r = B.Runner(args, lab, work)
    t = Traffic(r, args.hosts)
    meta = {
        "started": time.strftime("%Y%m%dT%H%M%S"),
        "machine": B.machine(),
        "hosts": args.hosts,
        "interval": args.interval,
        "slow_every": args.slow_every,
        "before_after": [BEFORE, AFTER],
        "poll_seconds": C.POLL,
        "retries": C.RETRIES,
        "proxy_image": data["all"]["vars"].get("deployer_proxy_image"),
    }
    recs: list[dict[str, Any]] = []
    for who in [w for w in WHO if w in args.contenders.split(",")]:
        recs += t.contender(who, args.interval, args.slow_every)
        save(results / "traffic.json", meta, recs)
    meta["finished"] = time.strftime("%Y%m%dT%H%M%S")
    meta["machine"]["load_after"] = os.getloadavg()
    save(results / "traffic.json", meta, recs)
    shutil.rmtree(work, ignore_errors=True)


def save(path: Path, meta: dict[str, Any], recs: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"meta": meta, "runs": recs}, indent=1))


if __name__ == "__main__":
    main()
