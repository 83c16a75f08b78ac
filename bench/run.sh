#!/usr/bin/env bash
# Benchmarks, one command (root, on a machine prepared by scripts/install.sh):
#   bench/run.sh [--hosts N] [--reps R] [--scale 1,3,10,30] [--scale-reps R]
#                [--scale-contenders deployer,floor] [--only compare,scale,traffic,build,logins]
#                [--keep-lab]
#   bench/run.sh --only fleet [--fleet 100,300,1000] [--fleet-forks 100] [--fleet-bound 600]
# Installs the anchors (ansible + community.docker, pyinfra, matplotlib) into
# bench/.venv-anchors from bench/requirements-anchors.txt, brings up lab "bench"
# with max(N, largest scale size) hosts, times deployer, the plain-ssh floor,
# ansible-playbook and pyinfra (see BENCHMARKS.md), writes bench/results/*.json,
# rewrites BENCHMARKS.md and bench/scale.png, and brings the lab down.
# `--only traffic` (bench/traffic.py) counts failed requests during rollouts under load
# and rewrites only that section of BENCHMARKS.md. Lab: $BENCH_LAB_NAME, $BENCH_LAB_DIR.
# `--only fleet` (bench/fleet.py, alone) brings up a light lab ($BENCH_FLEET_NAME, default
# "fleet", in $BENCH_FLEET_DIR) of the largest size: hosts with their own sshd sharing ONE
# engine; times no-op redeploy and health report for every contender at each size and
# rewrites only that section of BENCHMARKS.md and bench/fleet.png.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=10 REPS=3 SCALE=1,3,10,30 SCALE_REPS=3 SCALE_WHO=deployer,floor ONLY=compare,scale KEEP=0
FLEET=100,300,1000 FLEET_FORKS=100 FLEET_BOUND=600
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
    --fleet) FLEET=$2; shift 2 ;;
    --fleet-forks) FLEET_FORKS=$2; shift 2 ;;
    --fleet-bound) FLEET_BOUND=$2; shift 2 ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
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
# Bytecode for deployer's own modules, as `pip install` writes it for the anchors' (and for
# deployer's, installed as a package): an editable install under PYTHONDONTWRITEBYTECODE=1
# (set on this machine) compiles every module from source at every start, ~0.3 s of CPU.
"$(dirname "$DEPLOYER")/python" - <<'PY'
import compileall, os, deployer
compileall.compile_dir(os.path.dirname(deployer.__file__), quiet=1)
PY

if [ "$ONLY" = fleet ]; then
  FNAME=${BENCH_FLEET_NAME:-fleet} FDIR=${BENCH_FLEET_DIR:-/var/tmp/deployer-fleet}
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # a socket per host, per contender
  MAX=0; for n in ${FLEET//,/ }; do [ "$n" -gt "$MAX" ] && MAX=$n; done
  deployer lab up --light --name "$FNAME" --hosts "$MAX" --dir "$FDIR" >&2
  [ "$KEEP" = 1 ] || trap 'deployer lab down --name "$FNAME" --dir "$FDIR" >&2' EXIT
  BENCH_VENV=$VENV "$VENV/bin/python" bench/fleet.py --inventory "$FDIR/lab.yml" \
    --lab-name "$FNAME" --lab-state "$FDIR/state.json" --sizes "$FLEET" \
    --forks "$FLEET_FORKS" --bound "$FLEET_BOUND" --venv "$VENV" --deployer "$DEPLOYER"
  echo "wrote the fleet section of BENCHMARKS.md, bench/fleet.png, bench/results/fleet.json" >&2
  exit 0
fi

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
