#!/usr/bin/env bash
# Runs one shard of a faultline sweep; the cluster wrappers in slurm/ and
# kubernetes/ call it with the shard index their scheduler hands out.
#
#   SHARD_INDEX=I SHARD_COUNT=N SWEEP_DIR=/shared/sweeps/x \
#       deploy/run-shard.sh SCENARIO --set PATH=VALUES ... [--runs N]
#
# Writes SWEEP_DIR/shard-I/. --resume makes a retried or requeued task
# continue from the parts it already finished (and is harmless the first
# time). FAULTLINE names the binary (default: faultline on PATH, else the
# release build of this checkout); THREADS the worker threads (default: all
# cores the task may use).
set -euo pipefail
: "${SHARD_INDEX:?set SHARD_INDEX (0-based)}"
: "${SHARD_COUNT:?set SHARD_COUNT}"
: "${SWEEP_DIR:?set SWEEP_DIR (a folder every shard and the merge can reach)}"
here="$(cd "$(dirname "$0")" && pwd)"
FAULTLINE="${FAULTLINE:-$(command -v faultline || echo "$here/../target/release/faultline")}"
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
mkdir -p "$SWEEP_DIR"
exec "$FAULTLINE" sweep "$@" --shard "$SHARD_INDEX/$SHARD_COUNT" "${threads[@]}" \
    --out "$SWEEP_DIR/shard-$SHARD_INDEX" --resume --quiet
