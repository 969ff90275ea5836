#!/usr/bin/env bash
# Runs a sharded sweep on Kubernetes with kubectl: puts the scenario in a
# ConfigMap, starts the Indexed Job of sweep-job.yaml, waits for every shard,
# then runs the merge job. Needs the image (see Dockerfile) named in both
# manifests and a ReadWriteMany PersistentVolumeClaim "faultline-sweeps".
#
#   deploy/kubernetes/run.sh SCENARIO
#
# The shard count and sweep arguments are in sweep-job.yaml; fetch the result
# from the volume's current/merged folder (e.g. kubectl cp from a pod that
# mounts it).
set -euo pipefail
scenario=${1:?usage: deploy/kubernetes/run.sh SCENARIO}
here="$(cd "$(dirname "$0")" && pwd)"
kubectl delete job faultline-sweep faultline-merge --ignore-not-found
kubectl create configmap faultline-scenario --from-file=scenario.toml="$scenario" \
    --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f "$here/sweep-job.yaml"
kubectl wait --for=condition=complete --timeout=24h job/faultline-sweep
kubectl apply -f "$here/merge-job.yaml"
kubectl wait --for=condition=complete --timeout=1h job/faultline-merge
kubectl logs job/faultline-merge
