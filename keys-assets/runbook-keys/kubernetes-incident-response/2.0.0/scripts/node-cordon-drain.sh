#!/usr/bin/env bash
# Cordon and drain a node safely: show what will move, respect PodDisruptionBudgets,
# and stop if a PDB blocks eviction for too long.
# Usage: node-cordon-drain.sh NODE [--timeout 300s] [--force-unmanaged] [--yes]
set -euo pipefail

NODE="${1:-}"; shift || true
TIMEOUT=300s; FORCE=0; YES=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --force-unmanaged) FORCE=1; shift ;;
    --yes) YES=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NODE" ]] || { echo "usage: $0 NODE [--timeout 300s] [--force-unmanaged] [--yes]" >&2; exit 2; }

kubectl get node "$NODE" >/dev/null

echo "== pods on $NODE"
kubectl get pods -A --field-selector "spec.nodeName=$NODE" \
  -o custom-columns='NS:.metadata.namespace,POD:.metadata.name,OWNER:.metadata.ownerReferences[0].kind,PHASE:.status.phase'

echo "== PodDisruptionBudgets that currently allow 0 disruptions"
kubectl get pdb -A -o json \
  | jq -r '.items[] | select(.status.disruptionsAllowed == 0) | "\(.metadata.namespace)/\(.metadata.name) (healthy \(.status.currentHealthy)/\(.status.desiredHealthy))"'

if [[ "$YES" -ne 1 ]]; then
  read -r -p "Cordon and drain $NODE? [y/N] " a
  [[ "$a" == "y" || "$a" == "Y" ]] || { echo "aborted"; exit 1; }
fi

kubectl cordon "$NODE"

args=(drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout="$TIMEOUT")
[[ "$FORCE" -eq 1 ]] && args+=(--force)   # also evicts pods without a controller (they are lost)

if ! kubectl "${args[@]}"; then
  echo "drain did not finish within $TIMEOUT."
  echo "Usually a PDB with 0 allowed disruptions or a pod without a controller (use --force-unmanaged)."
  echo "Node stays cordoned. Remaining pods:"
  kubectl get pods -A --field-selector "spec.nodeName=$NODE" -o wide
  exit 1
fi
echo "drained. Undo with: kubectl uncordon $NODE"
