#!/usr/bin/env bash
# THE test command:  scripts/test.sh [pytest args...]
#   1. scripts/setup.sh (Debian packages, .venv; fast when already done)
#   2. starts the test services (tests/services/*.sh) and exports their URLs
#   3. runs .venv/bin/python -m pytest -q -rs "$@" from the repo root
# Exits with pytest's status. Services this run started are stopped on exit,
# unless HPCAI_KEEP_SERVICES=1 (one that was already running is left running).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

t0=$SECONDS
bash scripts/setup.sh
t_setup=$((SECONDS - t0))

PG=tests/services/postgres.sh
started=()
stop_services() {
    local s
    if [[ "${HPCAI_KEEP_SERVICES:-0}" == "1" ]]; then
        ((${#started[@]})) && echo "test.sh: HPCAI_KEEP_SERVICES=1, leaving running: ${started[*]}"
        return 0
    fi
    for s in ${started[@]+"${started[@]}"}; do
        bash "$s" stop || echo "test.sh: WARNING: '$s stop' failed" >&2
    done
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
bash "$PG" status >/dev/null 2>&1 || started+=("$PG")
bash "$PG" start
export HPCAI_TEST_PG_URL="$(bash "$PG" url)"
MARIADB=tests/services/mariadb.sh
bash "$MARIADB" status >/dev/null 2>&1 || started+=("$MARIADB")
bash "$MARIADB" start
export HPCAI_TEST_MARIADB_URL="$(bash "$MARIADB" url)"
# An OCI registry (tests/containers: push, pull into a second storage root).
REGISTRY=tests/services/registry.sh
if command -v docker-registry >/dev/null; then
    bash "$REGISTRY" status >/dev/null 2>&1 || started+=("$REGISTRY")
    bash "$REGISTRY" start
    export HPCAI_TEST_REGISTRY="$(bash "$REGISTRY" url)"
fi

# Slurm (tests/schedulers, tests/services): a private single-host cluster; needs root.
SLURM=tests/services/slurm.sh
if [[ "${HPCAI_TEST_SLURM:-auto}" != "0" && "$(id -u)" == "0" ]] && command -v slurmctld >/dev/null; then
    if bash "$SLURM" status >/dev/null 2>&1; then
        bash "$SLURM" start
    else
        started+=("$SLURM")
        bash "$SLURM" start
        bash "$SLURM" purge  # jobs saved by an earlier, ended session
    fi
    export HPCAI_TEST_SLURM_CONF="$(bash "$SLURM" conf)"
fi
# Grid Engine (the DRMAA backend of tests/schedulers): one per host, needs root.
GE=tests/services/gridengine.sh
if [[ "${HPCAI_TEST_GRIDENGINE:-auto}" != "0" && "$(id -u)" == "0" ]] && command -v sge_qmaster >/dev/null; then
    bash "$GE" status >/dev/null 2>&1 || started+=("$GE")
    bash "$GE" start
    export HPCAI_TEST_GRIDENGINE=1
fi
echo "test.sh: setup ${t_setup}s, services $((SECONDS - t0))s; HPCAI_TEST_PG_URL=$HPCAI_TEST_PG_URL" \
    "HPCAI_TEST_SLURM_CONF=${HPCAI_TEST_SLURM_CONF:-}"

# Scratch space for tests lives under var/ (git-ignored); no user HPCAI_HOME leaks in.
unset HPCAI_HOME
mkdir -p var/test-scratch
export HPCAI_TEST_SCRATCH="$REPO_ROOT/var/test-scratch"

# The JUnit report is the record of the run: its totals are printed last, and a run that left
# no report (pytest killed, or a test that took the terminal away) fails instead of passing.
results="$REPO_ROOT/var/test-results.xml"
rm -f "$results"
rc=0
.venv/bin/python -m pytest -q -rs --junitxml="$results" "$@" || rc=$?
.venv/bin/python - "$results" "$rc" <<'PY' || rc=$?
import sys
import xml.etree.ElementTree as ET

path, rc = sys.argv[1], int(sys.argv[2])
try:
    root = ET.parse(path).getroot()
except (OSError, ET.ParseError) as exc:
    sys.exit(f"test.sh: no test report ({exc}); pytest exited {rc}: counting this run as failed")
suite = root if root.tag == "testsuite" else root.find("testsuite")
n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
print(f"test.sh: {n['tests']} tests: {n['tests'] - n['failures'] - n['errors'] - n['skipped']} passed, "
      f"{n['failures']} failed, {n['errors']} errors, {n['skipped']} skipped "
      f"in {float(suite.get('time', 0)):.0f} s (pytest exit {rc})")
sys.exit(1 if rc == 0 and (n["failures"] or n["errors"]) else 0)
PY
exit "$rc"
