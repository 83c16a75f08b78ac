#!/usr/bin/env bash
# Benchmarks, one command (root, on a machine prepared by scripts/install.sh):
#   bench/run.sh [--hosts N] [--reps R] [--scale 1,3,10,30] [--scale-reps R]
#                [--scale-contenders deployer,floor] [--only compare,scale,traffic,build,logins]
#                [--keep-lab]
# Installs the anchors (ansible + community.docker, pyinfra, matplotlib) into
# bench/.venv-anchors from bench/requirements-anchors.txt, brings up lab "bench"
# with max(N, largest scale size) hosts, times deployer, the plain-ssh floor,
# ansible-playbook and pyinfra (see BENCHMARKS.md), writes bench/results/*.json,
# rewrites BENCHMARKS.md and bench/scale.png, and brings the lab down.
# `--only traffic` (bench/traffic.py) counts failed requests during rollouts under load
# and rewrites only that section of BENCHMARKS.md. Lab: $BENCH_LAB_NAME, $BENCH_LAB_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=10 REPS=3 SCALE=1,3,10,30 SCALE_REPS=3 SCALE_WHO=deployer,floor ONLY=compare,scale KEEP=0
NAME=${BENCH_LAB_NAME:-bench} DIR=${BENCH_LAB_DIR:-/var/tmp/deployer-bench}
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) HOSTS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --scale-reps) SCALE_REPS=$2; shift 2 ;;
    --scale-contenders) SCALE_WHO=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --keep-lab) KEEP=1; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ "$HOSTS" -lt 1 ] || [ "$HOSTS" -gt 30 ]; then echo "--hosts: 1 to 30 on this machine" >&2; exit 2; fi

VENV=bench/.venv-anchors
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements-anchors.txt

# The real entry point, not a pyenv shim (a shim adds ~0.1-3 s of bash per call, not deployer's).
DEPLOYER=$(command -v deployer)
case "$DEPLOYER" in *"/shims/"*) command -v pyenv >/dev/null && DEPLOYER=$(pyenv which deployer) ;; esac

LAB_HOSTS=$HOSTS
case ",$ONLY," in *,scale,*) ;; *) SCALE= ;; esac
for n in ${SCALE//,/ }; do if [ "$n" -gt "$LAB_HOSTS" ]; then LAB_HOSTS=$n; fi; done
deployer lab up --name "$NAME" --hosts "$LAB_HOSTS" --dir "$DIR" >&2
[ "$KEEP" = 1 ] || trap 'deployer lab down --name "$NAME" --dir "$DIR" >&2' EXIT

case ",$ONLY," in *,compare,*|*,scale,*)
BENCH_VENV=$VENV BENCH_DEPLOYER=$DEPLOYER "$VENV/bin/python" bench/bench.py \
  --inventory "$DIR/lab.yml" --lab-name "$NAME" --hosts "$HOSTS" --reps "$REPS" \
  --scale "$SCALE" --scale-reps "$SCALE_REPS" --scale-contenders "$SCALE_WHO" --only "$ONLY" \
  --venv "$VENV" --deployer "$DEPLOYER"
"$VENV/bin/python" bench/startup.py "$DEPLOYER" "$VENV" 5
"$VENV/bin/python" bench/report.py
echo "wrote BENCHMARKS.md, bench/scale.png, bench/results/" >&2 ;;
esac
# build + push + deploy against the same steps by hand (issue 13): its own section
case ",$ONLY," in *,build,*)
"$VENV/bin/python" bench/build.py --inventory "$DIR/lab.yml" --lab-name "$NAME" \
  --sizes "3,$HOSTS" --deployer "$DEPLOYER"
echo "wrote the build section of BENCHMARKS.md, bench/results/build.json" >&2 ;;
esac
# a rollout as root, as a docker-group user and through sudo (issue 18): its own section
case ",$ONLY," in *,logins,*)
"$VENV/bin/python" bench/logins.py --inventory "$DIR/lab.yml" --deployer "$DEPLOYER"
echo "wrote the logins section of BENCHMARKS.md, bench/results/logins.json" >&2 ;;
esac
# requests failed during rollouts (issue 11): its own section of BENCHMARKS.md
case ",$ONLY," in *,traffic,*)
BENCH_VENV=$VENV BENCH_DEPLOYER=$DEPLOYER "$VENV/bin/python" bench/traffic.py \
  --inventory "$DIR/lab.yml" --lab-name "$NAME" --hosts "$HOSTS" \
  --venv "$VENV" --deployer "$DEPLOYER"
"$VENV/bin/python" bench/report.py --traffic-only
echo "wrote the traffic section of BENCHMARKS.md, bench/results/traffic.json" >&2 ;;
esac
