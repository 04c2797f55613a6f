#!/bin/bash
#BSUB -J 'sweep[1-4]'
#BSUB -n 1
#BSUB -R "rusage[mem=1024]"
#BSUB -o /home/carol/p/output.%J_%I.txt
#BSUB -e /home/carol/p/error.%J_%I.txt
#BSUB -cwd /home/carol/p
# hpcai job script for LSF: sweep (u-3); ranks: 1
export HPCAI_JOB_DIR=/spool/carol/u-3
export HPCAI_JOB_ID="${LSB_JOBID}"
export HPCAI_ARRAY_INDEX="$((LSB_JOBINDEX - 1))"
export HPCAI_HOSTS="$(echo $LSB_MCPU_HOSTS | awk '{for (i = 1; i < NF; i += 2) printf "%s%s:%s", (i > 1 ? "," : ""), $i, $(i + 1)}')"
cd /home/carol/p || exit 1
/bin/bash /spool/carol/u-3/body.sh
ec=$?
echo "$ec" > /spool/carol/u-3/exit_code."${HPCAI_ARRAY_INDEX}"
exit "$ec"
