#!/usr/bin/env bash
# The whole test suite: lint, types, unit tests and the lab integration tests
# (real sshd, real Docker engines, real registries in network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; $PY -m ruff check deployer tests; $PY -m ruff format --check deployer tests
echo "== mypy"; $PY -m mypy
# Two workers, each with its own lab (tests/conftest.py); a test file runs on one worker, so
# module-scoped labs and fixtures are shared as written. TEST_WORKERS=0 runs in one process.
echo "== pytest"; exec $PY -m pytest -q -p no:cacheprovider --durations=10 \
  -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
