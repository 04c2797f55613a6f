#!/bin/bash
#BSUB -J train
#BSUB -n 4
#BSUB -gpu "num=2:mode=shared"
#BSUB -m "gpu_hosts"
#BSUB -o /home/carol/p/output.%J.txt
#BSUB -e /home/carol/p/error.%J.txt
#BSUB -cwd /home/carol/p
# hpcai job script for LSF: train (u-3); ranks: 2
export HPCAI_JOB_DIR=/spool/carol/u-3
export HPCAI_JOB_ID="${LSB_JOBID}"
export HPCAI_HOSTS="$(echo $LSB_MCPU_HOSTS | awk '{for (i = 1; i < NF; i += 2) printf "%s%s:%s", (i > 1 ? "," : ""), $i, $(i + 1)}')"
cd /home/carol/p || exit 1
/bin/bash /spool/carol/u-3/body.sh
ec=$?
echo "$ec" > /spool/carol/u-3/exit_code
exit "$ec"
