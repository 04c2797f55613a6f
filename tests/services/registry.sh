#!/usr/bin/env bash
# A private OCI registry for the tests: Debian's docker-registry (distribution 2.8).
#
#   tests/services/registry.sh start    start it (idempotent); prints nothing but errors
#   tests/services/registry.sh stop     stop it (its storage is kept, like a site's)
#   tests/services/registry.sh url      print host:port (plain HTTP; podman --tls-verify=false)
#   tests/services/registry.sh status   exit 0 when /v2/ answers
#
# Port ${HPCAI_TEST_REGISTRY_PORT:-HPCAI_TEST_PG_PORT + 2000}, 127.0.0.1 only, storage in
# /var/tmp/hpcai-test-registry-<port>. The Debian service (port 5000) is never touched.
set -euo pipefail

PG_PORT="${HPCAI_TEST_PG_PORT:-55432}"
PORT="${HPCAI_TEST_REGISTRY_PORT:-$((PG_PORT + 2000))}"
DIR="/var/tmp/hpcai-test-registry-$PORT"
PIDFILE="$DIR/registry.pid"
LOG="$DIR/registry.log"
START_TIMEOUT=20

die() { echo "registry.sh: ERROR: $*" >&2; exit 1; }
[[ "$PORT" =~ ^[0-9]+$ ]] || die "HPCAI_TEST_REGISTRY_PORT must be a number, got '$PORT'"

url() { echo "127.0.0.1:$PORT"; }

live_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

answers() { curl -fsS -m 2 "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1; }

start() {
    command -v docker-registry >/dev/null \
        || die "docker-registry not found (apt-get install docker-registry, or run scripts/setup.sh)"
    mkdir -p "$DIR/storage"
    exec 8>"$DIR.lock"
    flock -w 60 8 || die "another registry.sh start holds the lock"
    live_pid >/dev/null && answers && return 0
    cat >"$DIR/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
YAML
    setsid docker-registry serve "$DIR/config.yml" >"$LOG" 2>&1 </dev/null 8>&- &
    echo $! >"$PIDFILE"
    local end=$((SECONDS + START_TIMEOUT))
    until answers; do
        live_pid >/dev/null || { tail -n 20 "$LOG" >&2; die "docker-registry exited (log: $LOG)"; }
        ((SECONDS < end)) || die "docker-registry did not answer in ${START_TIMEOUT}s (log: $LOG)"
        sleep 0.2
    done
}

stop() {
    local pid
    pid="$(live_pid)" || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    status) live_pid >/dev/null && answers ;;
    *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
