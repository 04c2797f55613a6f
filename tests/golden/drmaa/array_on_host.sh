#!/bin/bash
# hpcai job script for DRMAA (Grid Engine): j (u-2)
# native specification: -pe smp 1 -l hostname=node7
# ranks: 1; slots: 1; array: 4 tasks
export HPCAI_JOB_DIR=/spool/bob/u-2
export HPCAI_JOB_ID="${JOB_ID}"
export HPCAI_ARRAY_INDEX="$((SGE_TASK_ID - 1))"
export LSB_JOBID="${HPCAI_JOB_ID}"
export HPCAI_HOSTS="$(hostname):${NSLOTS:-1}"
cd /home/bob/p || exit 1
trap 'date +%s > /spool/bob/u-2/time_limit; trap "" TERM; kill -TERM 0 2>/dev/null' USR1
/bin/bash /spool/bob/u-2/body.sh & child=$!
wait $child; ec=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; ec=$?; done
echo "$ec" > /spool/bob/u-2/exit_code."${HPCAI_ARRAY_INDEX}"
exit "$ec"
