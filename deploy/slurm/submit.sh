#!/usr/bin/env bash
# Submits a faultline sweep to Slurm: an array job with one task per shard,
# and a merge job that starts when every task has succeeded.
#
#   deploy/slurm/submit.sh SHARDS SWEEP_DIR SCENARIO --set PATH=VALUES ... [--runs N]
#
# e.g. deploy/slurm/submit.sh 16 /scratch/$USER/cascade models/three-node-cascade.toml \
#          --set services.app.nodes=3..10 --set traffic.web.rate=200:600:50 --runs 1000
#
# SWEEP_DIR must be on a filesystem every node sees. The merged result lands
# in SWEEP_DIR/merged; logs in SWEEP_DIR/logs. Adjust the #SBATCH lines of
# shard.sbatch (time, cpus, partition) to your cluster.
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,13p' "$0"
    exit 2
fi
shards=$1 dir=$2
shift 2
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$dir/logs"
job=$(sbatch --parsable --array="0-$((shards - 1))" --output="$dir/logs/shard-%a.out" \
    --export=ALL,SWEEP_DIR="$dir",DEPLOY="$here/.." "$here/shard.sbatch" "$@")
sbatch --parsable --dependency="afterok:${job%%;*}" --output="$dir/logs/merge.out" \
    --export=ALL,SWEEP_DIR="$dir",DEPLOY="$here/.." "$here/merge.sbatch"
echo "submitted array job $job ($shards shards) and its merge; results in $dir/merged"
