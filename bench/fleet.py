"""The simulated fleet (issue 14): no-op redeploy and health report at 100, 300, 1,000 hosts.

Run by `bench/run.sh --only fleet` on a light lab (`deployer lab up --light`, see
README "A simulated fleet"): every host its own namespace, address, sshd and state folder, all sharing
ONE Docker engine. So the work measured is the controller's and the SSH endpoints':
N connections, N handshakes, N sets of per-host commands, against one engine; not N
engines' work. One untimed `deployer deploy --limit h1` creates the container `web`
that every host then sees; then, per size and contender (one run each, interleaved
order): the no-op redeploy and the health report to the first N hosts.

The anchors' page check goes to the published port on the shared engine's leg of the
host's bridge (`lab_engine` in the inventory); deployer probes the container's own
address from the host, routed through that same leg.

Per run: wall time, controller CPU (user+sys of the process tree, from wait4) and peak
memory (largest sum of RSS over the tree, sampled every 0.25 s). A run past the bound is
killed and recorded as a timeout; a contender that timed out is not run at larger sizes.
Writes bench/results/fleet.json, bench/fleet.png and the fleet section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import contenders as C  # noqa: E402
import fleet_report  # noqa: E402

from bench import tree_rss  # noqa: E402

WHO = ("deployer", "floor", "ansible", "pyinfra")


def measure(argv: list[str], env: dict[str, str], bound: float) -> dict[str, Any]:
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=out, stderr=err, env={**os.environ, **env}, start_new_session=True
    )
    box: dict[str, Any] = {}

    def reap() -> None:
        _, status, ru = os.wait4(proc.pid, 0)
        box.update(end=time.monotonic(), rc=os.waitstatus_to_exitcode(status))
        box["cpu"] = ru.ru_utime + ru.ru_stime

    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    peak, killed = 0, False
    root = psutil.Process(proc.pid)
    while waiter.is_alive():
        peak = max(peak, tree_rss(root))
        waiter.join(0.25)
        if not killed and time.monotonic() - t0 > bound:
            os.killpg(proc.pid, 9)
            killed = True
    out.seek(0)
    err.seek(0)
    return {
        "wall": box["end"] - t0,
        "rc": box["rc"],
        "cpu": box["cpu"],
        "peak_rss_mb": peak / 2**20,
        "timeout": killed,
        "stdout": out.read().decode(errors="replace"),
        "stderr": err.read().decode(errors="replace"),
    }


class Fleet:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        data = yaml.safe_load(Path(args.inventory).read_text())
        self.vars = data["all"]["vars"]
        web = data["all"]["children"]["web"]["hosts"]
        self.names = sorted(web, key=lambda h: int(h[1:]))
        self.addr = {h: web[h]["ansible_host"] for h in self.names}
        self.probe = {h: web[h]["lab_engine"] for h in self.names}
        # The one container every light host sees serves every host's probe: nginx (the lab
        # hub's, listen backlog 511), not the demo page's busybox httpd, whose backlog of 9
        # drops the SYNs of a few hundred hosts probing at once (they timed out at 300).
        self.image = self.vars.get("lab_hub_nginx", self.vars["lab_image_v1"])
        self.venv = Path(args.venv).resolve()
        self.lab = C.Lab.load(Path(args.inventory), args.lab_name)
        C.deployer_files(work, versions=("v1",))

    def inventory(self, n: int) -> Path:
        path = self.work / f"inv-{n}.yml"
        if not path.exists():
            data = yaml.safe_load(Path(self.args.inventory).read_text())
            data["all"]["vars"]["lab_image_v1"] = self.image  # deployer's playbook names it
            hosts = data["all"]["children"]["web"]["hosts"]
            keep = {h: hosts[h] for h in self.names[:n]}
            data["all"]["children"] = {"web": {"hosts": keep}}
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    # ---------------------------------------------------------------- command lines
    def argv(
        self, who: str, scenario: str, n: int, run_dir: Path
    ) -> tuple[list[str], dict[str, str]]:
        forks = str(min(n, self.args.forks))
        if who == "deployer":
            argv = C.deployer_argv(
                self.args.deployer, scenario, "v1", self.inventory(n), n, self.work
            )
            argv[argv.index("--forks") + 1] = forks
            return argv, {"XDG_STATE_HOME": str(run_dir)}
        if who == "floor":
            return self.floor(scenario, n, forks), {}
        if who == "ansible":
            self.ansible_files(forks)
            (run_dir / "tmp").mkdir(exist_ok=True)
            pb = self.work / (
                "ansible-health.yml" if scenario == "health" else "ansible-deploy.yml"
            )
            argv = [
                str(self.venv / "bin" / "ansible-playbook"),
                "-i",
                str(self.inventory(n)),
                str(pb),
            ]
            return argv + ["-e", json.dumps({"bench_image": self.image})], C.ansible_env(
                self.work, run_dir
            )
        inv = self.pyinfra_files(n)
        argv = [str(self.venv / "bin" / "pyinfra"), "-y", "--parallel", forks, str(inv)]
        argv += [str(self.work / "pyinfra_fleet.py"), "--data", f"bench_image={self.image}"]
        if scenario == "health":
            argv += ["--data", "bench_health=1"]
        return argv, {}

    def floor(self, scenario: str, n: int, forks: str) -> list[str]:
        """One plain `ssh` per host, at most `forks` at a time (xargs -P)."""
        lines = []
        for h in self.names[:n]:
            argv = self.lab.ssh(self.addr[h]) + [
                C.floor_remote(scenario, self.image, self.probe[h])
            ]
            lines.append(shlex.join(argv) + " >/dev/null")
        cmds = self.work / f"floor-{scenario}-{n}.txt"
        cmds.write_text("\n".join(lines) + "\n")
        return ["sh", "-c", f"xargs -d '\\n' -n1 -P {forks} sh -c < {shlex.quote(str(cmds))}"]

    def ansible_files(self, forks: str) -> None:
        C.ansible_files(self.lab, self.venv, self.work, int(forks))
        sock = f"unix:///run/deployer-lab-{self.args.lab_name}/engine/docker.sock"
        for name in ("ansible-deploy.yml", "ansible-health.yml"):
            path = self.work / name
            text = path.read_text().replace("{{ ansible_host }}:8080", "{{ lab_engine }}:8080")
            doc = yaml.safe_load(text)
            doc[0]["vars"]["dh"] = sock
            path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def pyinfra_files(self, n: int) -> Path:
        data = {
            "ssh_user": "root",
            "ssh_key": self.lab.key,
            "ssh_known_hosts_file": self.lab.known_hosts,
            "ssh_strict_host_key_checking": "yes",
        }
        inv = self.work / f"pyinfra_fleet_inv_{n}.py"
        hosts = [(self.addr[h], {**data, "bench_probe": self.probe[h]}) for h in self.names[:n]]
        inv.write_text("web = " + repr(hosts) + "\n")
        (self.work / "pyinfra_fleet.py").write_text(f'''from pyinfra import host
from pyinfra.operations import docker, server

probe = host.data.bench_probe
if host.data.get("bench_health"):
    server.shell(name="health", commands=[
        "docker ps --filter name=^{C.CONTAINER}$ --format '{{{{.Names}}}} {{{{.Image}}}} {{{{.Status}}}}'",
        "curl -fsS -o /dev/null http://%s:8080/" % probe])
else:
    docker.container(name="run web", container="{C.CONTAINER}", image=host.data.bench_image,
                     ports=["{C.PORT}"], present=True, start=True)
    server.shell(name="page answers", commands=[
        "i=0; until curl -fsS -o /dev/null http://%s:8080/; do i=$((i+1)); "
        "[ $i -ge {C.RETRIES} ] && exit 1; sleep {C.POLL}; done" % probe])
''')
        return inv

    def own_container(self, who: str) -> None:
        """Untimed: remove `web` from the shared engine, then let `who` create its own
        through h1 alone (its no-op command, which creates a missing container), so that
        its timed no-op finds the container as it makes it."""
        sock = f"unix:///run/deployer-lab-{self.args.lab_name}/engine/docker.sock"
        subprocess.run(["docker", "-H", sock, "rm", "-f", C.CONTAINER], capture_output=True)
        rec = self.run(who, "noop", 1, quiet=True)
        if rec["rc"] != 0:
            print(f"  {who}: its own container through h1 FAILED: {rec.get('stderr_tail')}")

    def stop_reason(
        self, who: str, n: int, later: list[int], records: list[dict[str, Any]]
    ) -> dict[str, str]:
        """A contender that timed out at n hosts, or whose time at n hosts, scaled by the
        host count, would pass twice the bound at the next size, is not run there."""
        mine = [r for r in records if r["contender"] == who and r["hosts"] == n and "wall" in r]
        if any(r.get("timeout") for r in mine):
            return {who: f"timed out at {n} hosts"}
        if later and mine:
            projected = max(r["wall"] for r in mine) * later[0] / n
            if projected > 2 * self.args.bound:
                return {
                    who: f"{max(r['wall'] for r in mine):.0f} s at {n} hosts: "
                    f"~{projected:.0f} s projected at {later[0]}, over twice the bound"
                }
        return {}

    # ---------------------------------------------------------------- one run
    def run(self, who: str, scenario: str, n: int, quiet: bool = False) -> dict[str, Any]:
        run_dir = Path(tempfile.mkdtemp(prefix=f"{who}-", dir=self.work))
        argv, env = self.argv(who, scenario, n, run_dir)
        load_before = os.getloadavg()[0]
        res = measure(argv, env, self.args.bound)
        rec: dict[str, Any] = {
            "contender": who,
            "scenario": scenario,
            "hosts": n,
            "forks": min(n, self.args.forks),
            "load_before": load_before,
            **{k: res[k] for k in ("wall", "rc", "cpu", "peak_rss_mb", "timeout")},
        }
        rec["verified"] = not res["timeout"] and self.verified(who, scenario, n, res)
        if who == "deployer":
            rec["mb_per_host"] = res["peak_rss_mb"] / n
        if not rec["verified"]:
            rec["stderr_tail"] = res["stderr"][-1500:]
            rec["stdout_tail"] = res["stdout"][-1500:]
        status = "TIMEOUT" if res["timeout"] else ("ok" if rec["verified"] else "NOT VERIFIED")
        status = f"rc={res['rc']}" if quiet else status
        print(
            ("  (set-up) " if quiet else "  ")
            + f"{who:9} {scenario:7} n={n:<5} {res['wall']:8.2f}s cpu={res['cpu']:7.2f}s "
            f"rss={res['peak_rss_mb']:7.0f}MB {status}",
            flush=True,
        )
        return rec

    def verified(self, who: str, scenario: str, n: int, res: dict[str, Any]) -> bool:
        if who != "deployer":
            return bool(res["rc"] == 0)
        try:
            hosts = json.loads(res["stdout"])["hosts"]
        except (ValueError, KeyError, TypeError):
            return False
        if len(hosts) != n:
            return False
        if scenario == "noop":
            return bool(res["rc"] == 0) and all(h.get("status") == "ok" for h in hosts)
        return res["rc"] in (0, 3) and all(
            h.get("reachable")
            and any(
                c.get("name") == C.CONTAINER and (c.get("probe") or {}).get("ok")
                for c in h.get("containers", [])
            )
            for h in hosts
        )


def save(results: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    (results / "fleet.json").write_text(json.dumps({"meta": meta, "runs": records}, indent=1))


def lab_up(state_file: str) -> dict[str, Any] | None:
    if not state_file:
        return None
    state = json.loads(Path(state_file).read_text())
    return {k: state.get(k) for k in ("hosts", "seconds", "memory_mb")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--lab-name", required=True)
    ap.add_argument("--sizes", default="100,300,1000")
    ap.add_argument("--who", default=",".join(WHO))
    ap.add_argument("--forks", type=int, default=100, help="forks / parallel for every contender")
    ap.add_argument("--bound", type=float, default=600, help="seconds before a run is a timeout")
    ap.add_argument("--venv", required=True)
    ap.add_argument("--deployer", required=True)
    ap.add_argument("--lab-state", default="", help="the light lab's state.json (bring-up)")
    ap.add_argument("--results", default=str(HERE / "results"))
    args = ap.parse_args()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deployer-fleet-"))
    f = Fleet(args, work)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip() and int(s) <= len(f.names)]
    who = [w for w in args.who.split(",") if w in WHO]
    meta: dict[str, Any] = {
        "started": time.strftime("%Y%m%dT%H%M%S"),
        "load_before": os.getloadavg(),
        "sizes": sizes,
        "forks": args.forks,
        "bound": args.bound,
        "lab_up": lab_up(args.lab_state),
    }
    records: list[dict[str, Any]] = []
    stop: dict[str, str] = {}  # contender -> why it is not run at larger sizes
    for i, n in enumerate(sizes):
        print(f"fleet: {n} hosts", flush=True)
        order = who[i % len(who) :] + who[: i % len(who)]
        for w in order:
            if w not in stop:
                f.own_container(w)
            for scenario in ("noop", "health"):
                if w in stop:
                    records.append(
                        {"contender": w, "scenario": scenario, "hosts": n, "skipped": stop[w]}
                    )
                    continue
                records.append(f.run(w, scenario, n))
                save(results, meta, records)
            stop.update(f.stop_reason(w, n, sizes[i + 1 :], records))
    meta["finished"] = time.strftime("%Y%m%dT%H%M%S")
    meta["load_after"] = os.getloadavg()
    save(results, meta, records)
    fleet_report.write(results / "fleet.json", HERE.parent / "BENCHMARKS.md", HERE / "fleet.png")


if __name__ == "__main__":
    main()
