#!/usr/bin/env bash
# Optional: MLServer's own environment (its pins on fastapi/protobuf clash with hpcai's), used
# as a host-runtime image by the mlserver service type and by tests/svc/test_mlserver_e2e.py.
#   bash scripts/setup-mlserver.sh [PREFIX]     (default: var/mlserver-env; ~220 s here)
# Idempotent: does nothing when the environment already imports mlserver and tritonclient.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${1:-$REPO_ROOT/var/mlserver-env}"
PYTHON="${PYTHON:-python3.11}"
if [[ -x "$PREFIX/bin/python" ]] && "$PREFIX/bin/python" -c 'import mlserver, mlserver_sklearn, tritonclient.http' 2>/dev/null; then
    echo "setup-mlserver: $PREFIX is ready"; exit 0
fi
"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/pip" install -q --disable-pip-version-check mlserver==1.7.1 mlserver-sklearn==1.7.1 \
    "tritonclient[http]==2.73.0" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
echo "setup-mlserver: built $PREFIX"
