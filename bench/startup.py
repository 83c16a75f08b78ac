"""Start-up cost of each tool (no host touched): `--version`, interleaved, REPS times.

Part of bench/run.sh; tells how much of a short run (no-op, health) is the tool
starting rather than working. Writes bench/results/startup.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import measure  # noqa: E402


def main() -> None:
    deployer, venv, reps = (
        sys.argv[1],
        Path(sys.argv[2]).resolve(),
        int(sys.argv[3]) if len(sys.argv) > 3 else 5,
    )
    tools = {
        "deployer": [deployer, "--version"],
        "python (bare interpreter)": [sys.executable, "-c", "pass"],
        "ansible": [str(venv / "bin" / "ansible-playbook"), "--version"],
        "pyinfra": [str(venv / "bin" / "pyinfra"), "--version"],
    }
    out = []
    for rep in range(reps):
        for name, argv in tools.items():
            r = measure(argv)
            out.append(
                {
                    "tool": name,
                    "rep": rep,
                    **{k: r[k] for k in ("wall", "cpu", "peak_rss_mb", "rc")},
                }
            )
            print(f"  startup {name:26} {r['wall']:6.2f}s cpu={r['cpu']:5.2f}s", flush=True)
    (HERE / "results" / "startup.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
