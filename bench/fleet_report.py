"""bench/results/fleet.json -> the fleet section of BENCHMARKS.md and bench/fleet.png.

`python bench/fleet_report.py` re-renders both from the JSON (bench/fleet.py calls
`write` at the end of a run). The section sits between markers; bench/report.py keeps it
when it rewrites the rest of the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BEGIN = "<!-- fleet: written by bench/fleet_report.py from bench/results/fleet.json -->"
END = "<!-- fleet: end -->"
WHO = ("deployer", "floor", "ansible", "pyinfra")
HERE = Path(__file__).resolve().parent


def cell(r: dict[str, Any] | None, bound: float) -> tuple[str, str, str]:
    if r is None:
        return ("not run", "", "")
    if "skipped" in r:
        return (f"not run ({r['skipped']})", "", "")
    if r.get("timeout"):
        return (f"**timeout** (> {bound:.0f} s)", f"{r['cpu']:.1f} s", f"{r['peak_rss_mb']:.0f} MB")
    wall = f"{r['wall']:.1f} s" + ("" if r.get("verified") else " (NOT VERIFIED)")
    return (wall, f"{r['cpu']:.1f} s", f"{r['peak_rss_mb']:.0f} MB")


def find(runs: list[dict[str, Any]], who: str, scenario: str, n: int) -> dict[str, Any] | None:
    return next(
        (r for r in runs if (r["contender"], r["scenario"], r["hosts"]) == (who, scenario, n)),
        None,
    )


def section(data: dict[str, Any]) -> list[str]:
    meta, runs = data["meta"], data["runs"]
    bound = float(meta["bound"])
    sizes = meta["sizes"]
    up = meta.get("lab_up") or {}
    out = [
        BEGIN,
        "## Simulated fleet: 100, 300 and 1,000 hosts (issue 14)",
        "",
        f"One run (`bench/run.sh --only fleet`, `bench/fleet.py`), started {meta['started']}, "
        f"finished {meta.get('finished', '?')} (UTC); load average before / after: "
        f"{fmt_load(meta.get('load_before'))} / {fmt_load(meta.get('load_after'))}.",
        "",
        "**What the fleet is.** A light lab (`deployer lab up --light --hosts N`, README, 'A simulated fleet'): "
        "every host has its own network namespace, veth, address, sshd (own host key) and its own "
        "/tmp and /var/lib/deployer (locks and audit per host), but there is ONE Docker engine, "
        "shared: each host's sshd sets `DOCKER_HOST` to its unix socket. So this measures N SSH "
        "endpoints, N handshakes and N sets of per-host commands from one controller, against one "
        "engine that answers every host; it does **not** simulate N engines' work (every host sees "
        "the same container). The container `web` (the lab hub's `nginx:1.22`: that one container "
        "answers every host's probe, and the demo page's busybox httpd, with a listen backlog of 9, "
        "dropped the connections of a few hundred hosts probing at once) is created once through "
        "h1 (untimed); then the "
        "**no-op redeploy** and the **health report** go to the first N hosts. Hosts are spread "
        "over bridges of 240 (a Linux bridge takes at most 1024 ports). A lab host's root "
        "has an empty `~/.bashrc` (this machine's root runs `pyenv init` at every login; at 100 "
        "concurrent logins pyenv's rehash lock serialized them and a first run timed out).",
        "",
        f"Same work as the 10-host comparison above, for every contender, with **forks = "
        f"{meta['forks']}** (or N when smaller) for all of them: deployer `--forks`, Ansible "
        "`forks`, pyinfra `--parallel`, the floor `xargs -P` (one plain `ssh` per host). The "
        "anchors' page check goes to the published port on the shared engine's leg of the host's "
        "bridge; deployer probes the container's address from the host, routed through that leg. "
        f"One run per cell (no repetitions: the 1,000-host cells take minutes); contender order "
        f"rotates per size. A run past {bound:.0f} s is killed and recorded as a timeout; a "
        "contender that timed out is not run at larger sizes. CPU = user+sys of the contender's "
        "process tree (wait4); peak memory = largest sum of RSS over its process tree, sampled "
        "every 0.25 s.",
        "",
    ]
    if up:
        secs = up.get("seconds", {})
        out += [
            f"Bring-up of the {up.get('hosts', '?')}-host light lab: {secs.get('total', 0):.0f} s "
            f"in all (network {secs.get('network', 0):.1f} s, {up.get('hosts', '?')} sshds "
            f"started {secs.get('sshd_started', 0):.1f} s, all answering {secs.get('ready', 0):.1f} s "
            f"later; the rest builds and pushes the lab's images, {secs.get('images', 0):.0f} s); "
            f"the lab's processes use {up.get('memory_mb', 0):.0f} MB (PSS: every sshd, the shared "
            "engine, the registries).",
            "",
        ]
    for scenario, title in (("noop", "No-op redeploy"), ("health", "Health report")):
        out += [
            f"### {title}",
            "",
            "| hosts | contender | wall time | controller CPU | peak memory | deployer MB per host |",
            "|---|---|---|---|---|---|",
        ]
        for n in sizes:
            for who in WHO:
                r = find(runs, who, scenario, n)
                if r is None:
                    continue
                wall, cpu, mem = cell(r, bound)
                per = f"{r['mb_per_host']:.2f}" if who == "deployer" and "mb_per_host" in r else ""
                out.append(f"| {n} | {who} | {wall} | {cpu} | {mem} | {per} |")
        out.append("")
    out += ["![wall time against hosts, every contender](bench/fleet.png)", "", END, ""]
    return out


def plot(data: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, bound = data["runs"], float(data["meta"]["bound"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, scenario, title in zip(
        axes, ("noop", "health"), ("no-op redeploy", "health report"), strict=True
    ):
        for who in WHO:
            pts = [r for r in runs if r["contender"] == who and r["scenario"] == scenario]
            done = [r for r in pts if "wall" in r and not r.get("timeout")]
            if done:
                ax.plot([r["hosts"] for r in done], [r["wall"] for r in done], "o-", label=who)
            for r in pts:
                if r.get("timeout"):
                    ax.plot([r["hosts"]], [bound], "x", color="red")
                    ax.annotate(f"{who}: timeout", (r["hosts"], bound), fontsize=7)
        ax.set_title(f"{title}, simulated fleet")
        ax.set_xlabel("hosts")
        ax.set_ylabel("wall time (s)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def splice(doc: str, text: str) -> str:
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + text + rest.split(END, 1)[1].lstrip("\n")
    if "\n## How to run" in doc:
        head, tail = doc.split("\n## How to run", 1)
        return head + "\n" + text + "## How to run" + tail
    return doc.rstrip("\n") + "\n\n" + text


def current(doc: str) -> str:
    """The fleet section as it stands in `doc` ("" when there is none)."""
    if BEGIN in doc and END in doc:
        return BEGIN + doc.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def write(results: Path, md: Path, png: Path) -> None:
    data = json.loads(results.read_text())
    plot(data, png)
    md.write_text(splice(md.read_text(), "\n".join(section(data))))


def fmt_load(x: Any) -> str:
    return " ".join(f"{v:.1f}" for v in x) if x else "?"


if __name__ == "__main__":
    root = HERE.parent
    write(
        Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "fleet.json",
        root / "BENCHMARKS.md",
        HERE / "fleet.png",
    )
