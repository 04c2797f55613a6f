#!/usr/bin/env bash
# A private MariaDB server for the tests (the mysql dataset backend).
#
#   tests/services/mariadb.sh start    create (once) and start; prints nothing but errors
#   tests/services/mariadb.sh stop     stop it
#   tests/services/mariadb.sh url      print a mysql:// URL (user hpcai/hpcai, database hpcai_test)
#   tests/services/mariadb.sh status   exit 0 when it answers
#
# Port ${HPCAI_TEST_MARIADB_PORT:-HPCAI_TEST_PG_PORT + 1000}, TCP on 127.0.0.1 only, data in
# /var/tmp/hpcai-test-mariadb-<port> (owned by the mysql OS user when run as root). The
# Debian service (port 3306, /run/mysqld) is never touched. Small buffers and no binlog
# keep the start at a second or two.
set -euo pipefail

PG_PORT="${HPCAI_TEST_PG_PORT:-55432}"
PORT="${HPCAI_TEST_MARIADB_PORT:-$((PG_PORT + 1000))}"
DIR="/var/tmp/hpcai-test-mariadb-$PORT"
DATA="$DIR/data"
SOCK="$DIR/mysqld.sock"
PIDFILE="$DIR/mysqld.pid"
LOG="$DIR/mysqld.log"
DB_USER="hpcai"
DB_PASS="hpcai"
DB_NAME="hpcai_test"
START_TIMEOUT=30

die() { echo "mariadb.sh: ERROR: $*" >&2; exit 1; }
[[ "$PORT" =~ ^[0-9]+$ ]] || die "HPCAI_TEST_MARIADB_PORT must be a number, got '$PORT'"

if [[ "$(id -u)" == "0" ]]; then OS_USER="mysql"; else OS_USER="$(id -un)"; fi

url() { echo "mysql://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"; }

live_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

client() { timeout 20 mariadb --no-defaults -S "$SOCK" -u root "$@"; }

start() {
    command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] \
        || die "mariadbd not found (apt-get install mariadb-server, or run scripts/setup.sh)"
    exec 8>"/var/tmp/hpcai-test-mariadb-$PORT.lock"
    flock -w 120 8 || die "another mariadb.sh start holds the lock"
    if ! live_pid >/dev/null; then
        mkdir -p "$DIR"
        chown "$OS_USER:" "$DIR"
        if [[ ! -d "$DATA/mysql" ]]; then
            rm -rf "$DATA"
            timeout 60 mariadb-install-db --no-defaults --user="$OS_USER" --datadir="$DATA" \
                --auth-root-authentication-method=socket --skip-test-db >"$DIR/install.log" 2>&1 \
                || { tail -n 20 "$DIR/install.log" >&2; die "mariadb-install-db failed (log: $DIR/install.log)"; }
        fi
        rm -f "$SOCK" "$PIDFILE"
        /usr/sbin/mariadbd --no-defaults --user="$OS_USER" --datadir="$DATA" --socket="$SOCK" \
            --pid-file="$PIDFILE" --port="$PORT" --bind-address=127.0.0.1 --skip-name-resolve \
            --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=0 \
            --skip-log-bin --performance-schema=OFF --log-error="$LOG" 8>&- </dev/null >/dev/null 2>&1 &
        local deadline=$((SECONDS + START_TIMEOUT))
        until client -e "SELECT 1" >/dev/null 2>&1; do
            (( SECONDS < deadline )) || { tail -n 20 "$LOG" >&2 2>/dev/null; die "MariaDB on 127.0.0.1:$PORT did not start within ${START_TIMEOUT}s (log: $LOG)"; }
            sleep 0.2
        done
    fi
    client <<SQL || die "could not create user $DB_USER / database $DB_NAME"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
SQL
}

stop() {
    local pid i
    pid="$(live_pid)" || return 0
    kill "$pid"
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

status() {
    local pid
    if pid="$(live_pid)" && client -e "SELECT 1" >/dev/null 2>&1; then
        echo "running: pid $pid, 127.0.0.1:$PORT, data $DATA"
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
