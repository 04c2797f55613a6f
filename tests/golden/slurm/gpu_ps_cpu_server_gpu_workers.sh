#!/bin/bash
# hpcai job script for Slurm: job (u-1)
# ranks: 3; roles: server x1, worker x2
#SBATCH --job-name=job
#SBATCH --comment=hpcai:u-1
#SBATCH --chdir=/home/alice/proj
#SBATCH --output=/spool/alice/u-1/output.%j.txt
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --mem=2048M
#SBATCH hetjob
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --gres=shard:4
#SBATCH --nodes=1
#SBATCH --partition=gpu
# heterogeneous job: components server, worker
export HPCAI_JOB_DIR=/spool/alice/u-1
export HPCAI_PYTHON=/usr/bin/python3
export HPCAI_JOB_ID="${SLURM_JOB_ID}"
export LSB_JOBID="${HPCAI_JOB_ID}"
cd /home/alice/proj || exit 1
/bin/bash /spool/alice/u-1/body.sh
ec=$?
echo "$ec" > /spool/alice/u-1/exit_code
exit "$ec"
