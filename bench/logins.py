"""A rollout as root, as a docker-group user and through sudo (issue 18), side by side.

Run by bench/run.sh (`--only logins`), or alone against any lab:
  python bench/logins.py --inventory LAB.yml --deployer "$(command -v deployer)"
Writes bench/results/logins.json and the "Logging in" section of BENCHMARKS.md.

The same health-gated rollout of every web host (v1 -> v2, then v2 -> v1, ...) with the
lab's three logins, interleaved round by round:
  root:   the lab's inventory as it is;
  deploy: -e ansible_user=deploy (in the group of each engine's socket);
  ops:    -e ansible_user=ops -e ansible_become=true -e deployer_become_password_env=...
          (sudo with a password).
Wall time of the whole `deployer deploy`, and the commands per host from its JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sections import put_section  # noqa: E402

BEGIN = "<!-- logins: written by bench/logins.py from bench/results/logins.json -->"
END = "<!-- logins: end -->"
PW_VAR = "BENCH_OPS_SUDO_PASSWORD"
PLAYBOOK = """- name: web
  hosts: web
  vars: {image: "{{ lab_image_v1 }}"}
  containers:
    - name: web
      image: "{{ image }}"
      ports: ["8080:80"]
      retain: 2
      stop_timeout: 2
      health: {http: {port: 80, path: /healthz}, timeout: 6s, interval: 500ms}
"""


def login_args(v: dict[str, Any], who: str) -> list[str]:
    if who == "deploy":
        return ["-e", f"ansible_user={v['lab_deploy_user']}"]
    if who == "sudo":
        return [
            *("-e", f"ansible_user={v['lab_ops_user']}", "-e", "ansible_become=true"),
            *("-e", f"deployer_become_password_env={PW_VAR}"),
        ]
    return []


def rollout(deployer: str, pb: Path, inv: Path, image: str, extra: list[str]) -> dict[str, Any]:
    argv = [deployer, "deploy", str(pb), "-i", str(inv), "-e", f"image={image}", "-o", "json"]
    t0 = time.monotonic()
    proc = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    try:
        hosts = json.loads(proc.stdout)["hosts"]
    except (ValueError, KeyError):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        return {"wall": wall, "ok": False, "commands": [], "changed": 0}
    return {
        "wall": wall,
        "ok": proc.returncode == 0,
        "commands": [h["commands"] for h in hosts],
        "changed": sum(h["status"] == "changed" for h in hosts),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--deployer", default="deployer")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--benchmarks", default=str(HERE.parent / "BENCHMARKS.md"))
    args = ap.parse_args()
    inv = Path(args.inventory)
    v = yaml.safe_load(inv.read_text())["all"]["vars"]
    os.environ[PW_VAR] = Path(v["lab_ops_password_file"]).read_text().strip()
    with tempfile.TemporaryDirectory(prefix="deployer-bench-logins-") as work:
        pb = Path(work) / "web.yml"
        pb.write_text(PLAYBOOK)
        records = rounds(args.deployer, pb, inv, v, args.reps)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    doc = {"started": time.strftime("%Y%m%dT%H%M%S"), "records": records}
    (results / "logins.json").write_text(json.dumps(doc, indent=2))
    write_section(Path(args.benchmarks), records)


def rounds(
    deployer: str, pb: Path, inv: Path, v: dict[str, Any], reps: int
) -> list[dict[str, Any]]:
    images = [v["lab_image_v1"], v["lab_image_v2"]]
    first = rollout(deployer, pb, inv, images[0], [])  # every host on v1, as root
    if not first["ok"]:
        sys.exit("the first deploy failed")
    records, n = [], 0
    for rep in range(reps):
        order = ["root", "deploy", "sudo"]
        for who in order[rep % 3 :] + order[: rep % 3]:
            n += 1
            r = rollout(deployer, pb, inv, images[n % 2], login_args(v, who))
            r.update(who=who, rep=rep)
            print(f"rep {rep} {who}: {r['wall']:.2f}s commands {r['commands']}", flush=True)
            records.append(r)
    return records


def write_section(path: Path, records: list[dict[str, Any]]) -> None:
    hosts = max((len(r["commands"]) for r in records), default=0)
    lines = [
        BEGIN,
        "## Logging in: root, the docker group, sudo (issue 18)",
        "",
        f"The same health-gated rollout of {hosts} lab hosts (v1 → v2 and back), as root, as",
        "`deploy` (in the group of the engine's socket) and as `ops` through sudo with a",
        "password (`ansible_become`), interleaved; medians; `bench/run.sh --only logins`.",
        "",
        "| login | rollout wall time, median (range) | commands per host | all ok |",
        "| --- | --- | --- | --- |",
    ]
    for who, label in (("root", "root"), ("deploy", "docker group"), ("sudo", "sudo")):
        rs = [r for r in records if r["who"] == who]
        if not rs:
            continue
        cmds = sorted({c for r in rs for c in r["commands"]})
        ok = all(r["ok"] and r["changed"] == len(r["commands"]) for r in rs)
        walls = [r["wall"] for r in rs]
        lines.append(
            f"| {label} | {median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}) | "
            f"{', '.join(map(str, cmds))} | {'yes' if ok else 'NO'} |"
        )
    lines += [
        "",
        "sudo wraps each step's one script (no extra round trip); what it costs is sudo's own",
        "work on the host: a check of the password (`sudo -S -k true`, PAM) and the step under",
        "`sudo -S -k`, i.e. two password checks per step. Root is the slowest here for a",
        "reason of this machine, not of deployer: root's login shell is bash, which sshd's",
        "commands start with /root/.bashrc, and that runs `pyenv init` (`ssh root@h1 true`",
        "0.46 s against 0.30 s as `deploy`, whose shell is /bin/sh); every command pays it.",
        "",
        END,
    ]
    put_section(path, BEGIN, END, lines)


if __name__ == "__main__":
    main()
