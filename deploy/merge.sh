#!/usr/bin/env bash
# Merges every shard of a sweep into SWEEP_DIR/merged: exactly the files the
# unsharded sweep writes. Fails (exit 2, one line) if a shard is missing or
# unfinished; rerun that shard, then this.
#
#   SWEEP_DIR=/shared/sweeps/x deploy/merge.sh
set -euo pipefail
: "${SWEEP_DIR:?set SWEEP_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
FAULTLINE="${FAULTLINE:-$(command -v faultline || echo "$here/../target/release/faultline")}"
exec "$FAULTLINE" merge "$SWEEP_DIR"/shard-* --out "$SWEEP_DIR/merged"
