#!/bin/bash
# hpcai job script for Slurm: sweep (u-1)
# ranks: 1; roles: main x1
#SBATCH --job-name=sweep
#SBATCH --comment=hpcai:u-1
#SBATCH --chdir=/home/alice/proj
#SBATCH --output=/home/alice/proj/output.%A_%a.txt
#SBATCH --array=0-3
#SBATCH --error=/home/alice/proj/err.%A_%a.txt
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --mem=2048M
export HPCAI_JOB_DIR=/spool/alice/u-1
export HPCAI_PYTHON=/usr/bin/python3
export HPCAI_JOB_ID="${SLURM_ARRAY_JOB_ID}"
export HPCAI_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID}"
export LSB_JOBID="${HPCAI_JOB_ID}"
cd /home/alice/proj || exit 1
/bin/bash /spool/alice/u-1/body.sh
ec=$?
echo "$ec" > /spool/alice/u-1/exit_code."${SLURM_ARRAY_TASK_ID}"
exit "$ec"
