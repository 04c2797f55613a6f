#!/usr/bin/env bash
# THE demo command: installs everything (idempotent), runs a real 2-rank DDP training job on
# the embedded defaults (local scheduler, SQLite store, host runtime), follows its log to the
# end, then serves the portal on http://127.0.0.1:8080 (Ctrl-C stops it; HPCAI_DEMO_SERVE=0
# skips it). The portal's admin password is HPCAI_ADMIN_PASSWORD, or printed on first start.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
bash scripts/setup.sh
export PATH="$REPO_ROOT/.venv/bin:$PATH"

project="$REPO_ROOT/var/demo/pytorch"
mkdir -p "$project"
cp examples/pytorch/*.py "$project/"

# Jobs run as their account's Unix user, never as the platform's (README, "Who runs what"). As
# root, the demo creates the unprivileged Unix user hpcai-demo, maps the portal's admin account
# to it, and submits as that account: the DDP job below runs as hpcai-demo.
if [[ "$(id -u)" == "0" ]]; then
    id hpcai-demo >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --user-group \
        --comment "hpcai demo user" hpcai-demo
    mkdir -p "$REPO_ROOT/var/demo"
    echo "admin hpcai-demo" > "$REPO_ROOT/var/demo/identity.map"
    export HPCAI_IDENTITY_MAP_FILE="$REPO_ROOT/var/demo/identity.map" HPCAI_USER=admin
    chown -R hpcai-demo: "$project"
    echo "== the portal account 'admin' runs as the unprivileged Unix user hpcai-demo (uid $(id -u hpcai-demo));"
    echo "   the map is $HPCAI_IDENTITY_MAP_FILE ([identity] map_file in etc/hpcai.toml for a site)"
fi

echo
echo "== hpcai plugins"
hpcai plugins
echo
echo "== hpcai specs"
hpcai specs
echo
echo "== submitting a 2-rank DDP job (PyTorch, gloo, CPU)"
out=$(hpcai submit --framework pytorch --mode ddp --instances 2 --resource-spec cpu-1 \
      --workdir "$project" --name demo-ddp --json -- python ddp_train.py --steps 20)
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")
echo "job $id submitted"
hpcai logs -f "$id"
echo
hpcai show "$id"
state=$(hpcai show "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[[ "$state" == "succeeded" ]] || { echo "demo job ended $state" >&2; exit 1; }
echo
echo "The job directory holds plan.json, the rendered job.sh, output.<id>.txt and logs/."
echo "Try: hpcai jobs | hpcai submit --framework pytorch --help | eval \"\$(hpcai profile)\"; jjobs"
if [[ "${HPCAI_DEMO_SERVE:-1}" != "0" ]]; then
    echo
    echo "== the portal: http://127.0.0.1:${HPCAI_DEMO_PORT:-8080}/ (log in as admin, who sees every job, the demo job included; Ctrl-C stops it)"
    exec hpcai serve --port "${HPCAI_DEMO_PORT:-8080}"
fi
