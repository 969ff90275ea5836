#!/usr/bin/env bash
# Checks the cluster wrappers without a cluster: runs slurm/shard.sbatch as
# three array tasks and slurm/merge.sbatch with the environment Slurm would
# give them, then requires the merged folder to equal an unsharded sweep,
# file for file. CI runs it; it takes a few seconds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export FAULTLINE="${FAULTLINE:-$here/../target/release/faultline}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=(models/three-node-cascade.toml --set services.app.nodes=3,4 --set traffic.web.rate=350:450:50
      --runs 30 --duration 2m)
cd "$here/.."
for task in 5 6 7; do   # an array --array=5-7: shards 0, 1, 2
    SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=1 \
        SWEEP_DIR="$work/sweep" DEPLOY="$here" "$here/slurm/shard.sbatch" "${args[@]}"
done
SWEEP_DIR="$work/sweep" DEPLOY="$here" "$here/slurm/merge.sbatch" > /dev/null
"$FAULTLINE" sweep "${args[@]}" --out "$work/unsharded" --quiet
diff -r "$work/unsharded" "$work/sweep/merged"
echo "deploy/test-local.sh: 3 Slurm-style shards merged equal the unsharded sweep"
