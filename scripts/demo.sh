#!/usr/bin/env bash
# THE demo command: installs everything (idempotent), then runs a real 2-rank DDP training
# job on the embedded defaults (local scheduler, SQLite store, host runtime) and follows
# its log to the end.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
bash scripts/setup.sh
export PATH="$REPO_ROOT/.venv/bin:$PATH"

project="$REPO_ROOT/var/demo/pytorch"
mkdir -p "$project"
cp examples/pytorch/*.py "$project/"

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
