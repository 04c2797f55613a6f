#!/usr/bin/env bash
# A single-host Grid Engine 8.1.9 (Debian's gridengine-*) for the DRMAA tests.
#
#   tests/services/gridengine.sh start    start sge_qmaster + sge_execd, configure (idempotent):
#                                         root may submit, 1 s scheduling, exec host, PE smp,
#                                         queue all.q with $(nproc) slots
#   tests/services/gridengine.sh stop     stop both daemons
#   tests/services/gridengine.sh status   exit 0 when qmaster answers and all.q has a host
#   tests/services/gridengine.sh env      print the variables a DRMAA client needs
#
# Traps (see ../shared/notes/environment.md): the cell is preseeded by scripts/setup.sh's
# debconf answers; host_aliases must map this host to localhost; min_uid/min_gid 0 before
# execd starts; libdrmaa needs LD_PRELOAD=libjemalloc.so.2 ("static TLS block" otherwise).
# Grid Engine is one per host (its ports are fixed by the Debian packages).
set -euo pipefail

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
COMMON="$SGE_ROOT/$SGE_CELL/common"
HOST="$(hostname -s)"
QMASTER_PID=/var/spool/gridengine/qmaster/qmaster.pid
EXECD_PID="/var/spool/gridengine/execd/localhost/execd.pid"  # host_aliases makes it "localhost"
JEMALLOC=/lib/x86_64-linux-gnu/libjemalloc.so.2
DRMAA_LIB=/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0
TIMEOUT=30

die() { echo "gridengine.sh: ERROR: $*" >&2; exit 1; }
[[ "$(id -u)" == "0" ]] || die "must run as root"

alive() {
    local pid
    [[ -f "$1" ]] || return 1
    pid="$(cat "$1" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] && echo "$pid"
}

qmaster_answers() { timeout 5 qstat -g c >/dev/null 2>&1; }

conf_value() { qconf "$1" "${@:2}" 2>/dev/null | awk -v k="$3" '$1 == k {print $2}'; }

configure() {
    local tmp
    tmp="$(mktemp -d)"
    # root (uid 0) may submit, like every user of the tests
    if [[ "$(qconf -sconf global | awk '$1=="min_uid"{print $2}')" != "0" ]]; then
        qconf -sconf global | sed -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' >"$tmp/global"
        qconf -Mconf "$tmp/global" >/dev/null
    fi
    if [[ "$(qconf -ssconf | awk '$1=="schedule_interval"{print $2}')" != "0:0:1" ]]; then
        qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' >"$tmp/sched"
        qconf -Msconf "$tmp/sched" >/dev/null
    fi
    qconf -sh 2>/dev/null | grep -qx "$HOST" || qconf -ah "$HOST" >/dev/null
    qconf -ss 2>/dev/null | grep -qx "$HOST" || qconf -as "$HOST" >/dev/null
    if ! qconf -sel 2>/dev/null | grep -qx "$HOST"; then
        printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' "$HOST" >"$tmp/host"
        qconf -Ae "$tmp/host" >/dev/null
    fi
    if ! qconf -spl 2>/dev/null | grep -qx smp; then
        printf 'pe_name smp\nslots 999\nuser_lists NONE\nxuser_lists NONE\nstart_proc_args NONE\nstop_proc_args NONE\nallocation_rule $pe_slots\ncontrol_slaves FALSE\njob_is_first_task TRUE\nurgency_slots min\naccounting_summary FALSE\nqsort_args NONE\n' >"$tmp/pe"
        qconf -Ap "$tmp/pe" >/dev/null
    fi
    if ! qconf -sql 2>/dev/null | grep -qx all.q; then
        qconf -sq >"$tmp/q" 2>/dev/null || true
        sed -i -e 's/^qname .*/qname all.q/' -e "s/^hostlist .*/hostlist $HOST/" \
            -e "s/^slots .*/slots $(nproc)/" -e 's/^pe_list .*/pe_list smp/' \
            -e 's/^shell .*/shell \/bin\/bash/' -e 's/^shell_start_mode .*/shell_start_mode unix_behavior/' \
            -e 's/^load_thresholds .*/load_thresholds NONE/' "$tmp/q"
        # A busy shared host must not put the queue in alarm state (load_thresholds NONE).
        qconf -Aq "$tmp/q" >/dev/null
    fi
    rm -rf "$tmp"
}

start() {
    command -v sge_qmaster >/dev/null || die "Grid Engine is not installed (run scripts/setup.sh)"
    [[ -f "$COMMON/bootstrap" ]] || die "no cell $SGE_CELL in $SGE_ROOT (gridengine-common was not preseeded?)"
    exec 8>/var/tmp/hpcai-gridengine.lock
    flock -w 120 8 || die "another gridengine.sh holds the lock"
    grep -qw localhost "$COMMON/host_aliases" 2>/dev/null || echo "$HOST localhost" >"$COMMON/host_aliases"
    alive "$QMASTER_PID" sge_qmaster >/dev/null || /usr/sbin/sge_qmaster 8>&-
    local deadline=$((SECONDS + TIMEOUT))
    until qmaster_answers; do
        (( SECONDS < deadline )) || die "sge_qmaster did not answer within ${TIMEOUT}s"
        sleep 0.2
    done
    configure
    alive "$EXECD_PID" sge_execd >/dev/null || /usr/sbin/sge_execd 8>&-
    deadline=$((SECONDS + TIMEOUT))
    # The queue instance is usable once execd reported a load (no 'u' = unknown state).
    until qstat -f -q all.q 2>/dev/null | awk -v h="all.q@$HOST" '$1==h && $6 !~ /u/ {ok=1} END{exit !ok}'; do
        (( SECONDS < deadline )) || { qstat -f >&2 || true; die "the execution host did not come up within ${TIMEOUT}s"; }
        sleep 0.3
    done
}

stop() {
    local pid
    for f in "$EXECD_PID:sge_execd" "$QMASTER_PID:sge_qmaster"; do
        pid="$(alive "${f%%:*}" "${f##*:}")" || continue
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 15))
        while kill -0 "$pid" 2>/dev/null; do
            (( SECONDS < deadline )) || { kill -9 "$pid" 2>/dev/null || true; break; }
            sleep 0.1
        done
    done
}

status() {
    if alive "$QMASTER_PID" sge_qmaster >/dev/null && qmaster_answers \
        && alive "$EXECD_PID" sge_execd >/dev/null; then
        echo "running: sge_qmaster and sge_execd on $HOST"
        return 0
    fi
    echo "not running"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL DRMAA_LIBRARY_PATH=$DRMAA_LIB LD_PRELOAD=$JEMALLOC" ;;
    *) echo "usage: $0 {start|stop|status|env}" >&2; exit 2 ;;
esac
