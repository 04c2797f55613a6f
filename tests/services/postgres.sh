#!/usr/bin/env bash
# A private PostgreSQL 15 server for the tests.
#
#   tests/services/postgres.sh start    create (once) and start; prints nothing but errors
#   tests/services/postgres.sh stop     stop it (fast mode)
#   tests/services/postgres.sh url      print the SQLAlchemy URL
#   tests/services/postgres.sh status   exit 0 when it answers
#
# Cluster: owned by the 'postgres' OS user (when run as root; else by the caller),
# port ${HPCAI_TEST_PG_PORT:-55432}, TCP on 127.0.0.1 only, its unix socket in its own
# directory. Data: <repo>/var/test-services/pg/<port>/data, or
# /var/tmp/hpcai-test-pg-<port>/data when the postgres user cannot reach <repo>/var
# or the socket path would be too long. Role hpcai/hpcai owns database hpcai_test.
# The Debian cluster 15/main (port 5432, /var/run/postgresql) is never touched.
set -euo pipefail

PG_BIN="${HPCAI_PG_BIN:-/usr/lib/postgresql/15/bin}"
PORT="${HPCAI_TEST_PG_PORT:-55432}"
DB_USER="hpcai"
DB_PASS="hpcai"
DB_NAME="hpcai_test"
START_TIMEOUT=30

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
PRIMARY="$REPO_ROOT/var/test-services/pg/$PORT"
FALLBACK="/var/tmp/hpcai-test-pg-$PORT"

die() { echo "postgres.sh: ERROR: $*" >&2; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "HPCAI_TEST_PG_PORT must be a number, got '$PORT'"

if [[ "$(id -u)" == "0" ]]; then
    PG_OS_USER="postgres"
    AS_PG=(runuser -u postgres --)
else
    PG_OS_USER="$(id -un)"
    AS_PG=()
fi

url() { echo "postgresql+psycopg://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"; }

# The cluster dir holding data/ already, primary first; empty when none.
existing_dir() {
    local d
    for d in "$PRIMARY" "$FALLBACK"; do
        [[ -f "$d/data/PG_VERSION" ]] && { echo "$d"; return; }
    done
    return 0
}

# Pick (and create) the cluster dir for a new cluster.
make_dir() {
    local d="$PRIMARY" p
    if (( ${#d} + 20 <= 107 )); then
        # Our own scratch dirs must be traversable by the postgres user.
        mkdir -p "$d"
        for p in "$REPO_ROOT/var" "$REPO_ROOT/var/test-services" "$REPO_ROOT/var/test-services/pg"; do
            chmod a+rx "$p" 2>/dev/null || true
        done
        chown "$PG_OS_USER:" "$d"
        chmod 700 "$d"
        if "${AS_PG[@]}" test -w "$d" -a -x "$d"; then
            echo "$d"; return
        fi
        rmdir "$d" 2>/dev/null || true
    fi
    d="$FALLBACK"
    mkdir -p "$d"
    chown "$PG_OS_USER:" "$d"
    chmod 700 "$d"
    echo "$d"
}

# Pid of our postmaster when it is alive (cwd of that pid is our data dir); else fails.
live_pid() {
    local data="$1" pid
    [[ -f "$data/postmaster.pid" ]] || return 1
    pid="$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(readlink -f "/proc/$pid/cwd" 2>/dev/null)" == "$(readlink -f "$data")" ]] || return 1
    echo "$pid"
}

# After a crash: drop a stale postmaster.pid / socket lock and kill orphaned
# backends still sitting in our data dir (they would block the restart).
clear_stale() {
    local dir="$1" data="$1/data" p real
    real="$(readlink -f "$data")"
    for p in /proc/[0-9]*; do
        [[ "$(readlink -f "$p/cwd" 2>/dev/null)" == "$real" ]] && kill -9 "${p#/proc/}" 2>/dev/null || true
    done
    rm -f "$data/postmaster.pid" "$dir/.s.PGSQL.$PORT" "$dir/.s.PGSQL.$PORT.lock"
}

psql_admin() {
    "${AS_PG[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$PORT" -U "$PG_OS_USER" -d postgres
}

start() {
    [[ -x "$PG_BIN/pg_ctl" ]] || die "$PG_BIN/pg_ctl not found (apt-get install postgresql, or run scripts/setup.sh)"
    exec 8>"/var/tmp/hpcai-test-pg-$PORT.lock"
    flock -w 120 8 || die "another postgres.sh start holds /var/tmp/hpcai-test-pg-$PORT.lock"

    local dir data log rc=0
    dir="$(existing_dir)"
    if [[ -n "$dir" ]] && live_pid "$dir/data" >/dev/null; then
        log="$dir/postgres.log"          # already running: just make sure of role and db
    else
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 || rc=$?
        if (( rc <= 1 )); then   # 0 accepting, 1 rejecting: some other server answers there
            die "port $PORT is already taken by another PostgreSQL server (not this checkout's); set HPCAI_TEST_PG_PORT"
        fi
        if [[ -z "$dir" ]]; then
            dir="$(make_dir)"
            local locale_opt=(--no-locale)
            locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && locale_opt=(--locale=C.UTF-8)
            "${AS_PG[@]}" rm -rf "$dir/data.tmp"
            "${AS_PG[@]}" "$PG_BIN/initdb" -D "$dir/data.tmp" -U "$PG_OS_USER" -E UTF8 "${locale_opt[@]}" \
                --auth-local=peer --auth-host=scram-sha-256 -N >"$dir/initdb.log" 2>&1 \
                || { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed (log: $dir/initdb.log)"; }
            echo "include_if_exists = 'hpcai.conf'" | "${AS_PG[@]}" tee -a "$dir/data.tmp/postgresql.conf" >/dev/null
            "${AS_PG[@]}" mv "$dir/data.tmp" "$dir/data"
        fi
        data="$dir/data"
        log="$dir/postgres.log"
        clear_stale "$dir"
        # Rewritten at each start so a moved checkout keeps working.
        "${AS_PG[@]}" tee "$data/hpcai.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
        if ! "${AS_PG[@]}" "$PG_BIN/pg_ctl" start -D "$data" -l "$log" -w -t "$START_TIMEOUT" -s \
                >/dev/null 2>"$dir/pg_ctl.err" 8>&-; then   # 8>&-: the server must not hold our lock
            cat "$dir/pg_ctl.err" >&2
            tail -n 20 "$log" >&2 2>/dev/null || true
            die "PostgreSQL on 127.0.0.1:$PORT failed to start or did not accept connections within ${START_TIMEOUT}s (log: $log)"
        fi
    fi

    local deadline=$((SECONDS + START_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 1; do
        (( SECONDS < deadline )) || die "PostgreSQL on 127.0.0.1:$PORT did not answer within ${START_TIMEOUT}s (log: $log)"
        sleep 0.2
    done

    psql_admin "$dir" >/dev/null <<SQL || die "could not create role $DB_USER / database $DB_NAME"
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$DB_USER', '$DB_PASS')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$DB_NAME', '$DB_USER')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
SQL
}

stop() {
    local dir
    for dir in "$PRIMARY" "$FALLBACK"; do
        [[ -f "$dir/data/PG_VERSION" ]] || continue
        live_pid "$dir/data" >/dev/null || continue
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 -s >/dev/null 2>&1 \
            || "${AS_PG[@]}" "$PG_BIN/pg_ctl" stop -D "$dir/data" -m immediate -w -t 10 -s >/dev/null \
            || die "could not stop PostgreSQL in $dir/data"
    done
}

status() {
    local dir pid
    dir="$(existing_dir)"
    if [[ -n "$dir" ]] && pid="$(live_pid "$dir/data")" \
        && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; then
        echo "running: pid $pid, 127.0.0.1:$PORT, data $dir/data"
        return 0
    fi
    echo "not running (127.0.0.1:$PORT)"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    status) status ;;
    *) echo "usage: $0 {start|stop|url|status}" >&2; exit 2 ;;
esac
