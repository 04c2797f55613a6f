#!/usr/bin/env bash
# A private single-host Slurm 22.05 cluster for the tests (Debian's slurmctld/slurmd/munge).
#
#   tests/services/slurm.sh start    write the config (every time), start munged, slurmctld and
#                                    both slurmd; wait until the nodes are idle
#   tests/services/slurm.sh stop     stop slurmctld and the slurmd of this cluster (not munged:
#                                    other users of this host may need it)
#   tests/services/slurm.sh status   exit 0 when slurmctld answers and the nodes are up
#   tests/services/slurm.sh conf     print the path of slurm.conf (export SLURM_CONF=that)
#   tests/services/slurm.sh stop-ctld / start-ctld   only the controller (outage tests)
#
# Two nodes on this one host (slurmd -N), so partitions can differ for real:
#   cpu1: CPUs=$(nproc), no GPU           partition `debug` (default)
#   gpu1: CPUs=$(nproc), 2 fake GPUs      partition `gpu`
#         (type tesla, 4 shards on them for the "shared" GPU mode) and 2 fake MIG
#         instances (GRES type 1g.5gb, as Slurm names MIG profiles) for the "mig" mode
#   both                                  partition `all` (multi-node jobs)
# Heterogeneous jobs are started only by the backfill scheduler: bf_interval=1 (default 30 s).
# The GPUs are character devices made with mknod (Slurm rejects regular files and drains a
# node whose GRES files are missing); CUDA_VISIBLE_DEVICES is set by Slurm as on real GPUs.
# Ports: ${HPCAI_TEST_SLURM_PORT:-6917} (slurmctld) and the next two (one per slurmd), so a
# checkout's cluster does not collide with another one. State: /var/tmp/hpcai-slurm-<port>.
set -euo pipefail

PORT="${HPCAI_TEST_SLURM_PORT:-6917}"
DIR="/var/tmp/hpcai-slurm-$PORT"
CONF="$DIR/etc/slurm.conf"
HOST="$(hostname -s)"
NODES=(cpu1 gpu1)
START_TIMEOUT=30

die() { echo "slurm.sh: ERROR: $*" >&2; exit 1; }
[[ "$PORT" =~ ^[0-9]+$ ]] || die "HPCAI_TEST_SLURM_PORT must be a number, got '$PORT'"
[[ "$(id -u)" == "0" ]] || die "must run as root (slurmd starts jobs as their users)"
export SLURM_CONF="$CONF"

write_conf() {
    local cpus mem
    cpus="$(nproc)"
    # A node that reports less memory than configured is drained: stay below the total.
    # (Memory is only counted, not enforced: no cgroups here.)
    mem=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))
    mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool" "$DIR/dev" "$DIR/log"
    chmod 755 "$DIR" "$DIR/etc" "$DIR/dev"
    local i
    for i in 0 1 2 3; do
        # c 1 3 is /dev/null's device number: harmless, but a real device file as GRES needs.
        [[ -c "$DIR/dev/nvidia$i" ]] || { rm -f "$DIR/dev/nvidia$i"; mknod -m 666 "$DIR/dev/nvidia$i" c 1 3; }
    done
    cat >"$CONF.tmp" <<CONF
# Written by tests/services/slurm.sh; rewritten at every start.
ClusterName=hpcai$PORT
SlurmctldHost=$HOST
SlurmctldPort=$PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=1
SchedulerType=sched/backfill
ReturnToService=2
EnforcePartLimits=ALL
GresTypes=gpu,shard
KillWait=2
OverTimeLimit=0
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=10
DefMemPerCPU=256
NodeName=cpu1 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((PORT + 1)) CPUs=$cpus RealMemory=$mem Feature=cpu State=UNKNOWN
NodeName=gpu1 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((PORT + 2)) CPUs=$cpus RealMemory=$mem Feature=gpu,tesla Gres=gpu:tesla:2,gpu:1g.5gb:2,shard:4 State=UNKNOWN
PartitionName=debug Nodes=cpu1 Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=gpu1 MaxTime=INFINITE State=UP
PartitionName=all Nodes=cpu1,gpu1 MaxTime=INFINITE State=UP
CONF
    cat >"$DIR/etc/gres.conf.tmp" <<GRES
NodeName=gpu1 Name=gpu Type=tesla File=$DIR/dev/nvidia[0-1]
NodeName=gpu1 Name=gpu Type=1g.5gb File=$DIR/dev/nvidia[2-3]
NodeName=gpu1 Name=shard Count=4 File=$DIR/dev/nvidia[0-1]
GRES
    CHANGED=0
    cmp -s "$CONF.tmp" "$CONF" && cmp -s "$DIR/etc/gres.conf.tmp" "$DIR/etc/gres.conf" || CHANGED=1
    mv "$CONF.tmp" "$CONF"
    mv "$DIR/etc/gres.conf.tmp" "$DIR/etc/gres.conf"
    chmod 644 "$CONF" "$DIR/etc/gres.conf"
    # Node names are not host names here: let ranks reach MASTER_ADDR=cpu1 like a real node.
    grep -q "hpcai-test-slurm" /etc/hosts || echo "127.0.0.1 cpu1 gpu1 # hpcai-test-slurm" >>/etc/hosts
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --force >/dev/null
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --force
    local deadline=$((SECONDS + 10))
    until munge -n 2>/dev/null | unmunge >/dev/null 2>&1; do
        (( SECONDS < deadline )) || die "munged did not come up (see /var/log/munge/munged.log)"
        sleep 0.1
    done
}

# Pid from a pid file when that process is alive and is the named program.
alive() {
    local file="$1" prog="$2" pid
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$prog" ]] || return 1
    echo "$pid"
}

ctld_answers() { timeout 5 scontrol ping 2>/dev/null | grep -q "is UP"; }

start_ctld() {
    if ! alive "$DIR/slurmctld.pid" slurmctld >/dev/null; then
        # -i: ignore state files from an older config (node names, ports) instead of refusing
        /usr/sbin/slurmctld -i -f "$CONF"
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    until ctld_answers; do
        (( SECONDS < deadline )) || { tail -n 20 "$DIR/log/slurmctld.log" >&2; die "slurmctld did not answer within ${START_TIMEOUT}s"; }
        sleep 0.2
    done
}

stop_ctld() {
    local pid
    pid="$(alive "$DIR/slurmctld.pid" slurmctld)" || return 0
    kill "$pid"
    local deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null; do
        (( SECONDS < deadline )) || { kill -9 "$pid" 2>/dev/null || true; break; }
        sleep 0.1
    done
}

nodes_ready() {
    # Every node idle/mixed/allocated (not down, drained or unknown).
    local states
    states="$(timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u)" || return 1
    [[ -n "$states" ]] || return 1
    ! grep -qvE ' (idle|mix|alloc|comp)$' <<<"$states"
}

start() {
    command -v slurmctld >/dev/null || die "slurmctld is not installed (run scripts/setup.sh)"
    exec 8>"/var/tmp/hpcai-slurm-$PORT.lock"
    flock -w 120 8 || die "another slurm.sh holds /var/tmp/hpcai-slurm-$PORT.lock"
    write_conf
    start_munge 8>&-
    # A changed config (nodes, memory, partitions) needs fresh daemons: `scontrol reconfigure`
    # keeps old node sizes. Running jobs survive (their slurmstepd stays; state is saved).
    (( CHANGED )) && stop 8>&-
    start_ctld 8>&-
    local n
    for n in "${NODES[@]}"; do
        alive "$DIR/slurmd.$n.pid" slurmd >/dev/null || /usr/sbin/slurmd -f "$CONF" -N "$n" 8>&-
    done
    local deadline=$((SECONDS + START_TIMEOUT))
    until nodes_ready; do
        if (( SECONDS >= deadline )); then
            sinfo -N -l >&2 || true
            tail -n 20 "$DIR"/log/slurmd.*.log >&2 || true
            die "the nodes did not become idle within ${START_TIMEOUT}s"
        fi
        # A node left down/drained by an earlier run comes back once its slurmd is up.
        timeout 5 scontrol update nodename=cpu1,gpu1 state=resume >/dev/null 2>&1 || true
        sleep 0.3
    done
}

stop() {
    local pids=() pid n
    pid="$(alive "$DIR/slurmctld.pid" slurmctld)" && pids+=("$pid")
    for n in "${NODES[@]}"; do
        pid="$(alive "$DIR/slurmd.$n.pid" slurmd)" && pids+=("$pid")
    done
    ((${#pids[@]})) || return 0
    kill "${pids[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null; do
            (( SECONDS < deadline )) || { kill -9 "$pid" 2>/dev/null || true; break; }
            sleep 0.1
        done
    done
}

purge() {
    # Jobs left in the saved state by an earlier, ended test session (their processes are gone
    # with it) would hold the nodes and keep this session's jobs pending: cancel them all.
    local ids
    ids="$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u)" || return 0
    [[ -n "$ids" ]] && timeout 10 scancel $ids 2>/dev/null || true
}

status() {
    if alive "$DIR/slurmctld.pid" slurmctld >/dev/null && ctld_answers && nodes_ready; then
        echo "running: slurmctld on $HOST:$PORT, SLURM_CONF=$CONF"
        return 0
    fi
    echo "not running (port $PORT)"
    return 3
}

case "${1:-}" in
    start) start ;;
    purge) purge ;;
    stop) stop ;;
    status) status ;;
    conf) echo "$CONF" ;;
    stop-ctld) stop_ctld ;;
    start-ctld) start_ctld ;;
    *) echo "usage: $0 {start|purge|stop|status|conf|stop-ctld|start-ctld}" >&2; exit 2 ;;
esac
