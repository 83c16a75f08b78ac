"""bench/results/*.json -> BENCHMARKS.md (tables) and bench/scale.png (deployer's cost vs hosts)."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import contenders as C  # noqa: E402
import fleet_report  # noqa: E402

TITLES = {
    "first_deploy": "1. First deploy of the static page (v1) to every host, health-gated",
    "rollout": "2. Version rollout v1 → v2, health-gated",
    "noop": "3. No-op redeploy (nothing changed)",
    "health": "4. Health report of every host",
}


# bench/report.py [RESULTS [OUT]] [--traffic-only]: --traffic-only rewrites only the
# traffic section of the existing BENCHMARKS.md (bench/run.sh --only traffic).
TRAFFIC_ONLY = "--traffic-only" in sys.argv[1:]
_ARGS = [a for a in sys.argv[1:] if a != "--traffic-only"]
RESULTS = Path(_ARGS[0]) if _ARGS else HERE / "results"
OUT = Path(_ARGS[1]) if len(_ARGS) > 1 else ROOT


def load(name: str) -> Any:
    p = RESULTS / name
    return json.loads(p.read_text()) if p.exists() else None


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def span(xs: list[float]) -> str:
    return f"{med(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f})" if xs else "—"


def per_host(recs: list[dict[str, Any]], key: str) -> str:
    vals = sorted({v for r in recs for v in (r.get(key) or []) if v is not None})
    if not vals:
        return "n/a"
    return str(vals[0]) if len(vals) == 1 else f"{vals[0]}–{vals[-1]}"


def scenario_table(recs: list[dict[str, Any]], scenario: str) -> list[str]:
    rows = [r for r in recs if r["scenario"] == scenario]
    good = {w: [r for r in rows if r["contender"] == w and r["verified"]] for w in C.CONTENDERS}
    walls = {w: [r["wall"] for r in good[w]] for w in C.CONTENDERS}
    floor = med(walls["floor"])
    mine = med(walls["deployer"])
    out = [
        f"### {TITLES[scenario]}",
        "",
        "| contender | wall time, median (min–max) | ÷ floor | deployer ÷ this | CPU time (median) "
        "| peak memory (median) | verified runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in C.CONTENDERS:
        n_all = sum(1 for r in rows if r["contender"] == w)
        xs = walls[w]
        if not n_all:
            out.append(f"| {w} | not run (pending) | | | | | 0 |")
            continue
        ratio = f"{med(xs) / floor:.2f}×" if xs and walls["floor"] else "—"
        vs = (
            "1.00×"
            if w == "deployer"
            else (f"{mine / med(xs):.2f}×" if xs and walls["deployer"] else "—")
        )
        cpu = f"{med([r['cpu'] for r in good[w]]):.2f} s" if xs else "—"
        mem = f"{med([r['peak_rss_mb'] for r in good[w]]):.0f} MB" if xs else "—"
        out.append(f"| {w} | {span(xs)} | {ratio} | {vs} | {cpu} | {mem} | {len(xs)}/{n_all} |")
    d = good["deployer"]
    if d and scenario != "health":
        out += [
            "",
            f"deployer: SSH connections per host {per_host(d, 'connections_per_host')}, "
            f"remote commands per host {per_host(d, 'commands_per_host')}.",
        ]
    if d and scenario == "health":
        verdicts: dict[str, int] = {}
        for r in d:
            for k, v in (r.get("health_verdicts") or {}).items():
                verdicts[k] = verdicts.get(k, 0) + v
        out += [
            "",
            "deployer health's JSON carries no connection/command counts (one SSH session per "
            "host by design). Verdicts seen over all runs: "
            + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
            + ' ("degraded" = the load check firing on this busy shared machine; every '
            "host's `web` probe answered in every counted run).",
        ]
    bad = [r for r in rows if not r["verified"]]
    if bad:
        out += [
            "",
            "Runs not counted (the work was not verified): "
            + "; ".join(f"{r['contender']} rep {r.get('rep')} rc={r['rc']}" for r in bad)
            + ".",
        ]
    return out + [""]


def ratio_summary(recs: list[dict[str, Any]]) -> list[str]:
    out = [
        "| scenario | deployer ÷ floor | deployer ÷ ansible | deployer ÷ pyinfra |",
        "|---|---|---|---|",
    ]
    for s in C.SCENARIOS:
        w = {
            c: med(
                [
                    r["wall"]
                    for r in recs
                    if r["scenario"] == s and r["contender"] == c and r["verified"]
                ]
            )
            for c in C.CONTENDERS
        }
        cells = [
            f"{w['deployer'] / w[c]:.2f}"
            if w["deployer"] == w["deployer"] and w[c] == w[c]
            else "—"
            for c in ("floor", "ansible", "pyinfra")
        ]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return out + ["", "(below 1 = deployer faster; the ratio of medians)", ""]


def plot(all_recs: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    srecs = [r for r in all_recs if r["contender"] == "deployer"]
    floor = [r for r in all_recs if r["contender"] == "floor"]
    sizes = sorted({r["hosts"] for r in srecs})
    rows = [
        "| hosts | no-op wall, median (min–max) | no-op CPU | no-op peak mem | connections / commands per host "
        "| health wall, median (min–max) | health CPU | health peak mem |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for scenario, mark in (("noop", "o-"), ("health", "s-")):
        xs, ys, cs = [], [], []
        for n in sizes:
            g = [
                r for r in srecs if r["hosts"] == n and r["scenario"] == scenario and r["verified"]
            ]
            if g:
                xs.append(n)
                ys.append(med([r["wall"] for r in g]))
                cs.append(med([r["cpu"] for r in g]))
        if xs:
            label = "no-op redeploy" if scenario == "noop" else "health report"
            ax1.plot(xs, ys, mark, label=f"deployer {label}")
            ax2.plot(xs, cs, mark, label=f"deployer {label}")
        fx = [
            n
            for n in sizes
            if any(r["hosts"] == n and r["scenario"] == scenario and r["verified"] for r in floor)
        ]
        if fx:
            fy = [
                med(
                    [
                        r["wall"]
                        for r in floor
                        if r["hosts"] == n and r["scenario"] == scenario and r["verified"]
                    ]
                )
                for n in fx
            ]
            fc = [
                med(
                    [
                        r["cpu"]
                        for r in floor
                        if r["hosts"] == n and r["scenario"] == scenario and r["verified"]
                    ]
                )
                for n in fx
            ]
            label = "no-op" if scenario == "noop" else "health"
            ax1.plot(fx, fy, mark[0] + "--", alpha=0.6, label=f"floor (plain ssh) {label}")
            ax2.plot(fx, fc, mark[0] + "--", alpha=0.6, label=f"floor (plain ssh) {label}")
    for n in sizes:
        cell = []
        for scenario in ("noop", "health"):
            g = [
                r for r in srecs if r["hosts"] == n and r["scenario"] == scenario and r["verified"]
            ]
            if not g:
                cell += ["—", "—", "—"] + (["—"] if scenario == "noop" else [])
                continue
            cell += [
                span([r["wall"] for r in g]),
                f"{med([r['cpu'] for r in g]):.2f} s",
                f"{med([r['peak_rss_mb'] for r in g]):.0f} MB",
            ]
            if scenario == "noop":
                cell.append(
                    f"{per_host(g, 'connections_per_host')} / {per_host(g, 'commands_per_host')}"
                )
        rows.append(f"| {n} | " + " | ".join(cell) + " |")
    if floor:
        rows += [
            "",
            "The floor (one plain `ssh` per host, all in parallel) at the same sizes, for scale:",
            "",
            "| hosts | floor no-op wall, median (min–max) | floor health wall, median (min–max) |",
            "|---|---|---|",
        ]
        for n in sizes:
            cells = [
                span(
                    [
                        r["wall"]
                        for r in floor
                        if r["hosts"] == n and r["scenario"] == sc and r["verified"]
                    ]
                )
                for sc in ("noop", "health")
            ]
            rows.append(f"| {n} | " + " | ".join(cells) + " |")
    for ax, what in ((ax1, "wall time, median (s)"), (ax2, "controller CPU time, median (s)")):
        ax.set_xlabel("hosts")
        ax.set_ylabel(what)
        ax.set_xticks(sizes)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("deployer: cost vs number of hosts (lab, one machine)")
    fig.tight_layout()
    fig.savefig(OUT / "bench" / "scale.png" if OUT != ROOT else HERE / "scale.png", dpi=100)
    return rows


def main() -> None:
    allm = load("machine.json") or {}
    meta = allm.get("compare") or allm.get("scale") or {}
    smeta = allm.get("scale") or {}
    recs = load("compare.json") or []
    srecs = load("scale.json") or []
    m = meta.get("machine", {})
    n = meta.get("hosts")
    reps = meta.get("reps")
    v = m.get("versions", {})
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run.sh` (see [How to run](#how-to-run)); the numbers below are the latest run's. "
        f"Comparison run started {meta.get('started', '?')} (UTC), finished {meta.get('finished', 'not finished')}; "
        "the scale curve's own times are in its section.",
        "",
        "## Machine",
        "",
        f"- {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('mem_gib', '?')} GiB; {m.get('os', '?')}, "
        f"kernel {m.get('kernel', '?')}; Python {m.get('python', '?')}.",
        f"- deployer: `{v.get('deployer', '?')}`; ansible: `{v.get('ansible', '?')}` (+ community.docker from the "
        f"`ansible` package); pyinfra: `{v.get('pyinfra', '?')}`; {v.get('openssh', '?')}; {v.get('docker', '?')}.",
        f"- Load average (1/5/15 min) when the comparison started / when its invocation ended: "
        f"{fmt_load(m.get('load_before'))} / {fmt_load(m.get('load_after'))}.",
        "- **Noise**: the machine has 2 cores. The controller, every lab host's sshd and Docker engine (the "
        "lab is brought up with as many hosts as the largest scale size) and the registry all share them, "
        "so the load stays above 2 while a tool works and absolute times are inflated. The contenders "
        "were interleaved (order rotated each repetition) so the noise hits them alike; medians are reported "
        "with min–max. Read the ratios, not the seconds.",
        "",
        "## What was measured",
        "",
        f"{n} lab hosts (network namespaces on this machine, each with its own sshd and Docker engine; "
        f"images from the lab's plain-HTTP registry), {reps} repetitions. Each repetition, for each contender "
        "in turn: remove every container and both demo images from the hosts, then time "
        "**first deploy** (v1), **no-op** (v1 again), **health report**, **rollout** (v1 → v2).",
        "",
        "Same work for everyone: container `web`, image `lab_image_v1`/`v2`, port `8080:80`, health = "
        f"HTTP 200 on `http://<host>:8080/`, polled every {meta.get('poll_seconds', 0.25)} s. After each deploy the "
        "bench fetches every host's page from the controller and counts the run only if every host shows the "
        "new version (`deployer demo v1`/`v2`); health runs count if they exit 0 and (deployer) every host's "
        "`web` probe answered.",
        "",
        "- **deployer**: `deployer deploy PLAYBOOK --forks N --output json --no-summary`; `deployer health PLAYBOOK --output "
        "json --forks N` (host facts + each declared container's probe). The playbook says `pull: missing`, as the "
        "anchors behave (none asks the registry again for an image the host has); deployer's default, `always`, "
        "adds one registry check per host and image, to catch a tag that moved.",
        "- **floor**: a bash script starting one plain `ssh` per host, all in parallel: `docker pull`, `stop`, "
        "`rm`, `run`, then `curl` the page every 0.25 s until it answers. No-op floor: one `ssh` per host "
        "running `docker inspect` and finding image + running state right (the least an idempotent tool must "
        "do). Health floor: one `ssh` per host running `docker ps` + `curl`.",
        "- **ansible**: `ansible-playbook` with community.docker `docker_image` (source pull), "
        "`docker_container` (state started), then `uri` until 200; pipelining on, forks = N, "
        "ControlPersist on but a fresh ControlPath folder per run (cold connections, like everyone); "
        "the remote python is the anchors venv (has `docker`). Health: `docker_container_info` + `uri`.",
        "- **pyinfra**: `pyinfra --parallel N`: `docker.container(force=True)` then a `server.shell` curl "
        "loop. The no-op run drops `force` (with `force` pyinfra always recreates; without it pyinfra diffs the "
        "spec itself). Health: one `server.shell` with `docker ps` + `curl`.",
        "- Wall time: `time.monotonic()` around the whole command (process start to exit, so it includes "
        "each tool's start-up). CPU time: user+sys of the whole process tree from `wait4`. Peak memory: the "
        "largest sum of RSS over the process tree, sampled every 50 ms (ansible forks a worker per host; "
        "the floor is N `ssh` processes).",
        "",
        f"## Results at {n} hosts",
        "",
    ]
    if recs:
        lines += ["Summary, ratio of medians (wall time):", ""] + ratio_summary(recs)
        for s in C.SCENARIOS:
            lines += scenario_table(recs, s)
    else:
        lines += ["Not measured yet.", ""]
    st = load("startup.json") or []
    if st:
        lines += [
            "### Start-up alone (no host touched)",
            "",
            "`--version` of each tool, interleaved; how much of a short run is the tool starting:",
            "",
            "| tool | wall, median (min–max) | CPU time (median) |",
            "|---|---|---|",
        ]
        for tool in dict.fromkeys(r["tool"] for r in st):
            g = [r for r in st if r["tool"] == tool and r["rc"] == 0]
            if g:
                lines.append(
                    f"| {tool} | {span([r['wall'] for r in g])} | {med([r['cpu'] for r in g]):.2f} s |"
                )
        lines.append("")
    lines += limits(recs, st, srecs)
    lines += ["## Scale: deployer's cost as hosts grow", ""]
    if srecs:
        sr = smeta.get("scale_reps")
        who = smeta.get("scale_contenders", "deployer")
        sm = smeta.get("machine", {})
        lines += [
            f"Contenders: {who}, one after the other at each size, each with one untimed deploy of its "
            f"own first, then {sr} repetitions of the no-op redeploy and the health report, alternating; no-op redeploy and health report; `--forks` = hosts. Run started "
            f"{smeta.get('started', '?')}, finished {smeta.get('finished', '?')}; load average before / "
            f"after: {fmt_load(sm.get('load_before'))} / {fmt_load(sm.get('load_after'))}.",
            "",
            *plot(srecs),
            "",
            "![deployer cost vs hosts](bench/scale.png)",
            "",
        ]
    else:
        lines += ["Not measured in this run.", ""]
    old = (OUT / "BENCHMARKS.md").read_text() if (OUT / "BENCHMARKS.md").exists() else ""
    traffic = load("traffic.json")
    if traffic or not kept(old, "traffic"):
        lines += traffic_section(traffic)
    else:  # this checkout has no traffic.json (results are git-ignored): the file's stays
        lines += kept(old, "traffic").splitlines() + [""]
    lines += fleet_report.current(old).splitlines()  # bench/fleet.py's section, kept as is
    lines += [
        "## How to run",
        "",
        "```sh",
        "bench/run.sh                                  # 10 hosts, 3 reps; scale 1/3/10/30 (deployer + floor)",
        "bench/run.sh --hosts 3 --reps 1 --scale ''    # quick check, no scale curve",
        "bench/run.sh --only scale                      # only the scale curve (keeps the comparison's JSON)",
        "bench/run.sh --only traffic                    # failed requests during rollouts (its section only)",
        "bench/run.sh --only fleet                      # simulated fleet, 100/300/1,000 hosts (its section only)",
        "bench/.venv-anchors/bin/python bench/report.py # re-render this file from bench/results/",
        "```",
        "",
        "Needs root and the lab's packages (`scripts/install.sh`). It installs the anchors into "
        "`bench/.venv-anchors` from `bench/requirements-anchors.txt` (never into the project), brings up lab "
        "`bench` in `/var/tmp/deployer-bench`, writes `bench/results/*.json` (raw runs), this file and "
        "`bench/scale.png`, then brings the lab down (`--keep-lab` keeps it). `bench/report.py` alone "
        "re-renders this file from the JSON. `bench/results/` is git-ignored: this file is the record.",
        "",
        "## Caveats",
        "",
        "- One busy 2-core machine plays controller, every host and the registry; no run on an idle or "
        "separate controller was made. Ratios between tools are the meaningful part.",
        "- `deployer health --output json` reports no SSH connection / command counts, so those columns "
        "cover deploys only. Its verdicts were `degraded` (load check) on this machine; the run still "
        "counts when every host's `web` probe answered.",
        "- pyinfra's no-op runs without `force` (with it, it always recreates the container).",
        "- The scale curve covers deployer and the floor only (not ansible or pyinfra).",
        "",
    ]
    for name in ("build", "logins"):  # written by bench/build.py and bench/logins.py: kept
        if kept(old, name):
            lines += [kept(old, name)]
    (OUT / "BENCHMARKS.md").write_text("\n".join(lines))


def kept(doc: str, name: str) -> str:
    """The section NAME (`<!-- NAME: written by ... -->` to `<!-- NAME: end -->`) as it
    stands in `doc`, "" when there is none: another bench wrote it, this one keeps it."""
    begin = doc.find(f"<!-- {name}: written by ")
    end = doc.find(f"<!-- {name}: end -->", begin)
    if begin < 0 or end < 0:
        return ""
    return doc[begin : end + len(f"<!-- {name}: end -->")] + "\n"


def limits(
    recs: list[dict[str, Any]], st: list[dict[str, Any]], srecs: list[dict[str, Any]]
) -> list[str]:
    """What limits deployer: figures computed from this run, plus what the code shows."""

    def m(who: str, scenario: str, key: str) -> float:
        return med(
            [
                r[key]
                for r in recs
                if r["contender"] == who and r["scenario"] == scenario and r["verified"]
            ]
        )

    out = ["### What limits deployer", ""]
    boot = [r for r in st if r["tool"] == "deployer" and r["rc"] == 0]
    if recs and boot:
        bw, bc = med([r["wall"] for r in boot]), med([r["cpu"] for r in boot])
        nw, nc = m("deployer", "noop", "wall"), m("deployer", "noop", "cpu")
        out.append(
            f"- **Start-up.** `deployer --version` alone costs {bc:.2f} s CPU ({bw:.2f} s wall on this "
            f"machine); the whole 10-host no-op costs {nc:.2f} s CPU ({nw:.2f} s wall), so start-up is "
            f"about {100 * bc / nc:.0f}% of the no-op's CPU (the two measured at different moments). Command "
            "modules load lazily and validation takes the Docker SDK's port parser without importing the SDK; "
            "what a deploy still imports (paramiko, the Docker SDK with requests, jinja2 for a playbook's "
            "templates) it needs; rich only for a terminal, paramiko's invoke only for an ssh config's "
            "`Match exec`, and the interpreter's teardown is skipped (cli/__init__.py `exit_now`)."
        )
    if recs:
        out.append(
            f"- **CPU and wall time.** At 10 hosts deployer burns "
            f"{m('deployer', 'noop', 'cpu') / m('floor', 'noop', 'cpu'):.1f}× the floor's controller CPU "
            f"(no-op {m('deployer', 'noop', 'cpu'):.2f} s vs {m('floor', 'noop', 'cpu'):.2f} s; "
            f"rollout {m('deployer', 'rollout', 'cpu'):.2f} s vs {m('floor', 'rollout', 'cpu'):.2f} s) and "
            f"takes {m('deployer', 'noop', 'wall') / m('floor', 'noop', 'wall'):.2f}× (no-op) and "
            f"{m('deployer', 'rollout', 'wall') / m('floor', 'rollout', 'wall'):.2f}× (rollout) its "
            "wall time. deployer is one Python process (threads under the "
            "GIL: start-up, every paramiko handshake and every channel on one core at a time); the floor "
            "is N independent `ssh` processes. On a 2-core machine at load 15+, the scheduler gives N "
            "processes N shares and deployer one; this machine's noise therefore favours multi-process "
            "tools (the floor, ansible's forks) over single-process ones (deployer, pyinfra). What is "
            "left of deployer's CPU in a short run is mostly Python start-up: the imports a deploy "
            "needs (see Start-up), then per host a handshake, two commands and the Engine API's "
            "requests through requests/urllib3."
        )
        out.append(
            "- **One wait between hosts.** A deploy first prepares every host of the play (connect, "
            "lock, pull by the `pull:` policy, inspect: 1 connection and 1 command each, the rest "
            "as Engine API requests), waits until all are locked, then each host applies on its "
            "own (replace, health gate, finalize). The wait is the safety rule (docs/deploy.md: no "
            "host changes until every host of the play is locked by this run); its cost is the "
            "spread between the fastest and the slowest prepare, which grows with load and host "
            "count. The floor has no such wait."
        )
        out.append(
            "- **The replace step.** In ports mode the replace is one shell command running 6 "
            "`docker` CLI processes on the host (create, stop, two renames, start, inspect for "
            "the address; the floor runs 3: stop, rm, run), each 20-30 ms of the host's CPU: "
            "with every lab host's engine on the controller's 2 cores, the likely bulk of the gap "
            "to the floor in the first deploy and the rollout (not measured apart). Moving those "
            "steps onto the "
            "Engine API channel the prepare already uses (5-10 ms a request) is the next step."
        )
    d_s = [
        r
        for r in srecs
        if r["contender"] == "deployer" and r["verified"] and r["scenario"] == "noop"
    ]
    sizes = sorted({r["hosts"] for r in d_s})
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        c_lo = med([r["cpu"] for r in d_s if r["hosts"] == lo])
        c_hi = med([r["cpu"] for r in d_s if r["hosts"] == hi])
        out.append(
            f"- **Per-host cost.** The no-op's controller CPU grows by about "
            f"{1000 * (c_hi - c_lo) / (hi - lo):.0f} ms per host ({c_lo:.2f} s at {lo} host{'s' if lo > 1 else ''}, "
            f"{c_hi:.2f} s at {hi} hosts); memory stays nearly flat (one process)."
        )
        w_lo = med([r["wall"] for r in d_s if r["hosts"] == lo])
        w_hi = med([r["wall"] for r in d_s if r["hosts"] == hi])
        f_s = [
            r
            for r in srecs
            if r["contender"] == "floor" and r["verified"] and r["scenario"] == "noop"
        ]
        f_lo = [r["wall"] for r in f_s if r["hosts"] == lo]
        f_hi = [r["wall"] for r in f_s if r["hosts"] == hi]
        text = (
            f"- **Wall time vs hosts.** deployer's no-op wall grows {w_hi / w_lo:.1f}× from {lo} to {hi} hosts "
            f"({w_lo:.2f} s → {w_hi:.2f} s), much faster than its CPU: every lab host's sshd and dockerd "
            "run on the same 2 cores as the controller, so more hosts means a busier machine."
        )
        fc_lo = [r["cpu"] for r in f_s if r["hosts"] == lo]
        fc_hi = [r["cpu"] for r in f_s if r["hosts"] == hi]
        if fc_lo and fc_hi:
            out[-1] = out[-1][:-1] + (
                f"; the floor's CPU grows by about {1000 * (med(fc_hi) - med(fc_lo)) / (hi - lo):.0f}"
                f" ms per host (one `ssh` process each), so past ~10 hosts deployer uses less "
                "controller CPU than N plain `ssh` processes."
            )
        if f_lo and f_hi:
            text += (
                f" The floor grows {med(f_hi) / med(f_lo):.1f}× over the same range "
                f"({med(f_lo):.2f} s → {med(f_hi):.2f} s); deployer ÷ floor is "
                f"{w_lo / med(f_lo):.1f}× at {lo} and {w_hi / med(f_hi):.1f}× at {hi} hosts."
            )
        out.append(text)
    return out + [""]


# ---------------------------------------------------------------- traffic (bench/traffic.py)
TRAFFIC_BEGIN = "<!-- traffic: written by bench/report.py from bench/results/traffic.json -->"
TRAFFIC_END = "<!-- traffic: end -->"
LABELS = {
    "deployer-proxy": "deployer (proxy)",
    "deployer-ports": "deployer (ports)",
    "floor": "floor",
    "ansible": "ansible",
    "pyinfra": "pyinfra",
}
GATES = {
    "deployer-proxy": "yes: new one next to the live one, routed only once healthy",
    "deployer-ports": "yes, after stopping the old one; restores it",
    "floor": "**none**: replaces, then polls",
    "ansible": "**none**: replaces, then polls",
    "pyinfra": "**none**: replaces, then polls",
}
CASE_TITLES = {"rollout": "v1 → v2", "failed": "v1 → never-healthy image"}


def traffic_section(data: dict[str, Any] | None) -> list[str]:
    """Failed requests while each contender rolls out (bench/traffic.py), between markers
    so that `--traffic-only` can replace just this section."""
    out = [TRAFFIC_BEGIN, "## Traffic during a rollout: failed requests", ""]
    if not data or not data.get("runs"):
        return out + ["Not measured yet (`bench/run.sh --only traffic`).", "", TRAFFIC_END, ""]
    meta, runs = data["meta"], data["runs"]
    m = meta.get("machine", {})
    n = meta.get("hosts")
    poll, retries = meta.get("poll_seconds", C.POLL), meta.get("retries", C.RETRIES)
    before, after = meta.get("before_after", [1.5, 1.0])
    out += [
        f"One run (`bench/run.sh --hosts {n} --only traffic`, `bench/traffic.py`), started "
        f"{meta.get('started', '?')}, finished {meta.get('finished', 'not finished')} (UTC); "
        f"{n} lab hosts; load average before / after: {fmt_load(m.get('load_before'))} / "
        f"{fmt_load(m.get('load_after'))}.",
        "",
        "**What is measured.** While each timed command runs, deployer's load generator "
        "(`deployer/lab/load.py`, in the bench's own process) plays the users of a web service on "
        f"every host's public port: per host, `GET /` on a new TCP connection every "
        f"{1000 * meta.get('interval', 0.01):.0f} ms (at most: each waits for the one before, "
        "and the generator shares the 2 cores with everything else), and every "
        f"{meta.get('slow_every', 1.0):g} s a request to `/cgi-bin/slow`, which answers after 3 s "
        "(so requests are in flight when a version is stopped or switched). A request **failed** "
        "when it got no HTTP answer (refused, reset, closed, 5 s timeout; 15 s for a slow one) or "
        f"a status other than 200. The load starts {before:g} s before the command and stops "
        f"{after:g} s after it returned, then waits for the slow requests in flight; so the "
        "number of requests sent grows with the wall time; compare the failed counts and the "
        "longest outage. **Longest outage**: on the worst host, from a failed `GET /` to the next "
        "one that succeeded. **Wall time**: the timed command(s), start to exit, under that load "
        "(the comparison above ran without this load).",
        "",
        "- Public port: 80, the proxy (`deployer_proxy_http_port`, Caddy "
        "2.6 built from Debian's package by the lab) for **deployer (proxy)**: the same bench "
        "playbook with `proxy: {port: 80}` instead of `ports`. 8080 (`-p 8080:80`) for "
        "**deployer (ports)** and the anchors, which run as in the comparison above (ansible's "
        "page poll excepted, see below).",
        f"- **{CASE_TITLES['rollout']}**: every host runs v1; one run to v2 on all {n} hosts at "
        "once (forks = hosts for everyone); afterwards every host must serve v2.",
        f"- **{CASE_TITLES['failed']}**: every host runs v1 again (an untimed deploy); then the "
        "lab's `unhealthy` image, which starts but never listens. deployer: one run, its health "
        "gate (timeout 60 s) fails, it exits 3 and v1 serves again (ports: deployer restarts "
        "the old container; proxy: the new one never got a request). The floor, ansible and "
        f"pyinfra have **no health gate**: they replace the container, poll the page (floor and "
        f"pyinfra: {retries} tries {poll:g} s apart; ansible: `uri` every {poll:g} s for "
        f"{retries * poll:g} s of time, because under this load {retries} `uri` tries, each a "
        "module run over SSH, took over 10 minutes; deployer's gate: 60 s), exit non-zero, "
        "and we put v1 back at once with their own v1 deploy (the best case of an operator "
        "reacting); the wall time is both runs. Afterwards every host must serve v1.",
        "",
        "| contender | health gate | case | exit | wall time | requests sent | failed "
        "| slow requests completed | longest outage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shown = set()
    for r in runs:
        steps = r.get("steps", [])
        wall = f"{r['wall']:.1f} s"
        if len(steps) > 1:
            wall += " (" + " + ".join(f"{s['wall']:.1f}" for s in steps) + ")"
        pct = 100 * r["failed"] / r["requests"] if r["requests"] else 0.0
        share = "<0.1%" if 0 < pct < 0.1 else f"{pct:.1f}%"
        who = r["contender"]
        head = ("", "") if who in shown else (LABELS.get(who, who), GATES.get(who, "?"))
        shown.add(who)
        out.append(
            f"| {head[0]} | {head[1]} | {CASE_TITLES.get(r['case'], r['case'])} "
            f"| {', '.join(str(s['rc']) for s in steps)} | {wall} | {r['requests']} "
            f"| {r['failed']} ({share}) | {r['slow_completed']}/{r['slow']} "
            f"| {r['longest_outage']:.1f} s |"
        )
    out.append("")

    def one(who: str, case: str) -> dict[str, Any] | None:
        return next((r for r in runs if r["contender"] == who and r["case"] == case), None)

    px, pt = one("deployer-proxy", "rollout"), one("deployer-ports", "rollout")
    if px and pt:
        drained = sorted(d for s in px.get("steps", []) for d in s.get("drained", []))
        text = (
            f"**Wall time, deployer's v1 → v2 with the proxy vs without:** {px['wall']:.1f} s vs "
            f"{pt['wall']:.1f} s (×{px['wall'] / pt['wall']:.2f}). Per host the proxy rollout "
            "starts the new version next to the old, checks it, switches the route (one "
            "`caddy reload`) and drains the old one before stopping it"
        )
        if drained:
            text += (
                f" (the drain took {drained[0]:.1f}–{drained[-1]:.1f} s per host here: at "
                "least 1 s, then until the old container has no connection left, the 3-second "
                "requests included)"
            )
        text += (
            "; the ports rollout stops the old one first and waits for the new one, which is "
            "where its failed requests come from."
        )
        out += [text, ""]
        fx, ft = one("deployer-proxy", "failed"), one("deployer-ports", "failed")
        if fx and ft:
            out += [
                f"The failed rollout (both wait out the gate's 60 s timeout): {fx['wall']:.1f} s "
                f"with the proxy, {ft['wall']:.1f} s with ports; longest outage on a host "
                f"{fx['longest_outage']:.1f} s with the proxy, {ft['longest_outage']:.1f} s "
                "with ports.",
                "",
            ]
    proxied = [r for r in runs if r["contender"] == "deployer-proxy"]
    if proxied:
        fails = sum(r["failed"] for r in proxied)
        resets = sum(r.get("failed_resets", 0) for r in proxied)
        if fails:
            kinds = error_kinds([r.get("errors", {}) for r in proxied])
            out += [
                f"deployer (proxy)'s {fails} failed request{'s' if fails != 1 else ''}: {kinds}. "
                + (
                    "Connection resets are Caddy 2.6's caveat: every configuration reload (one "
                    "per host per switch; none for the never-healthy image) hands the "
                    "listening socket over, and a connection arriving at that instant can be "
                    f"reset before any request was read ({resets} here)."
                    if resets
                    else ""
                ),
                "",
            ]
        else:
            out += [
                "deployer (proxy) failed no request in this run. Caddy 2.6 can reset a "
                "connection that arrives at the very instant of a configuration reload (one per "
                "host per switch); none did here.",
                "",
            ]
    bad = [r for r in runs if not r.get("verified")]
    if bad:
        out += [
            "Not verified (a host did not serve the expected version after the run): "
            + "; ".join(
                f"{LABELS.get(r['contender'], r['contender'])} {r['case']} "
                f"(served: {r.get('served_after')})"
                for r in bad
            )
            + ".",
            "",
        ]
    else:
        out += [
            "Every run ended with every host serving the expected version (v2 after the "
            "rollout, v1 after the failed one), checked from the load's own requests after "
            "the command returned.",
            "",
        ]
    return out + [TRAFFIC_END, ""]


def error_kinds(maps: list[dict[str, int]]) -> str:
    total: dict[str, int] = {}
    for mp in maps:
        for k, v in mp.items():
            total[k] = total.get(k, 0) + v
    return ", ".join(f"{v} × {k}" for k, v in sorted(total.items(), key=lambda kv: -kv[1]))


def splice_traffic() -> None:
    """Replace only the traffic section of BENCHMARKS.md (inserted before "## How to run"
    the first time); every other section stays as it is."""
    path = OUT / "BENCHMARKS.md"
    doc = path.read_text()
    text = "\n".join(traffic_section(load("traffic.json"))) + "\n"
    if TRAFFIC_BEGIN in doc and TRAFFIC_END in doc:
        head, rest = doc.split(TRAFFIC_BEGIN, 1)
        tail = rest.split(TRAFFIC_END, 1)[1].lstrip("\n")
        doc = head + text + tail
    elif "\n## How to run" in doc:
        head, tail = doc.split("\n## How to run", 1)
        doc = head + "\n" + text + "## How to run" + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)


def fmt_load(x: Any) -> str:
    return " ".join(f"{v:.1f}" for v in x) if x else "?"


if __name__ == "__main__":
    if TRAFFIC_ONLY:
        splice_traffic()
    else:
        main()
