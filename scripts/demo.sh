#!/usr/bin/env bash
# The demo, one command, on a fresh Debian 12 machine as root:
# installs what is needed, brings up a lab of real hosts (sshd + Docker engine
# each, in their own network namespaces, plus registries and a Docker Hub mirror),
# deploys the static page v1 to every web host, rolls it out to v2, builds the
# seed's example (examples/site: FROM nginx) on a lab host, pushes it and deploys
# it, and prints each host's health.
# `deployer lab down` removes it all afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
HOSTS=${HOSTS:-3}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "deployer lab up --hosts $HOSTS"
deployer lab up --hosts "$HOSTS"

step "deployer validate playbooks/demo.yml"
deployer validate playbooks/demo.yml -i inventories/lab.yml

step "deployer deploy playbooks/demo.yml  (static page v1 behind each web host's proxy, port 80)"
deployer deploy playbooks/demo.yml -i inventories/lab.yml

step "curl each host"
for name in $(deployer hosts -i inventories/lab.yml web); do
  addr=$(deployer hosts -i inventories/lab.yml --host "$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ansible_host"])')
  page=$(curl -s --max-time 5 "http://$addr/" | grep -o 'deployer demo v[0-9]*' | head -n 1 || true)
  echo "$name ($addr): ${page:-no answer}"
done

step "deployer deploy playbooks/demo-v2.yml  (rolling out v2: health-gated, switched by the proxy, no request dropped)"
deployer deploy playbooks/demo-v2.yml -i inventories/lab.yml

step "deployer deploy examples/site/site.yml --build  (FROM nginx, built on h1, pushed to the lab's registry, deployed by digest on port 8081)"
deployer deploy examples/site/site.yml -i inventories/lab.yml --build --no-summary

step "curl each host's site"
for name in $(deployer hosts -i inventories/lab.yml web); do
  addr=$(deployer hosts -i inventories/lab.yml --host "$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ansible_host"])')
  page=$(curl -s --max-time 5 "http://$addr:8081/" | grep -o 'deployer site' | head -n 1 || true)
  echo "$name ($addr:8081): ${page:-no answer}"
done

step "deployer health"
deployer health -i inventories/lab.yml playbooks/demo-v2.yml || true
deployer health -i inventories/lab.yml examples/site/site.yml || true

printf '\nThe lab stays up for you to try things (inventories/lab.yml). Remove it with: .venv/bin/deployer lab down\n'
