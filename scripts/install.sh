#!/usr/bin/env bash
# Installs what deployer, its lab and its tests need on Debian 12 (as root):
# the system packages and the Python package (editable, with the test extra).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="openssl docker.io openssh-server openssh-client docker-registry busybox-static iproute2 iptables util-linux curl sudo python3-venv chromium"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing system packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
# deployer and its test tools go into .venv (Debian's own python3 refuses
# system-wide pip installs); scripts/demo.sh and scripts/test.sh use it.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || $PY -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | { grep -v "^WARNING: Location" || true; }
# Bytecode for deployer's own modules, as `pip install` writes it for a package it copies:
# an editable install writes none, and with PYTHONDONTWRITEBYTECODE set (CI machines often
# set it) every `deployer` started would compile its ~80 modules again (~0.2 s of CPU).
.venv/bin/python -m compileall -q deployer >/dev/null
