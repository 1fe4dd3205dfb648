#!/usr/bin/env bash
# Capture cluster state for incident triage before anything is restarted.
# Usage: cluster-snapshot.sh [-n NAMESPACE] [-o OUTPUT_DIR]
set -euo pipefail

NS=""; OUT=""
while getopts "n:o:" opt; do
  case "$opt" in
    n) NS="$OPTARG" ;;
    o) OUT="$OPTARG" ;;
    *) echo "usage: $0 [-n namespace] [-o dir]" >&2; exit 2 ;;
  esac
done

CTX=$(kubectl config current-context)
OUT="${OUT:-./k8s-snapshot-${CTX//[^A-Za-z0-9_.-]/_}-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
if [[ -n "$NS" ]]; then NSARGS=(-n "$NS"); else NSARGS=(-A); fi

run() {
  local name="$1"; shift
  echo "  $name"
  "$@" >"$OUT/$name.txt" 2>&1 || echo "(command failed: $*)" >>"$OUT/$name.txt"
}

echo "context=$CTX namespace=${NS:-all} -> $OUT"
run version        kubectl version
run nodes          kubectl get nodes -o wide
run node-conditions kubectl get nodes -o custom-columns='NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,MEM:.status.conditions[?(@.type=="MemoryPressure")].status,DISK:.status.conditions[?(@.type=="DiskPressure")].status,PID:.status.conditions[?(@.type=="PIDPressure")].status,TAINTS:.spec.taints[*].key'
run node-top       kubectl top nodes
run pods-unhealthy kubectl get pods "${NSARGS[@]}" -o wide --field-selector='status.phase!=Running,status.phase!=Succeeded'
run pods-all       kubectl get pods "${NSARGS[@]}" -o wide
run pod-top        kubectl top pods "${NSARGS[@]}" --containers
run events         kubectl get events "${NSARGS[@]}" --sort-by=.lastTimestamp
run warnings       kubectl get events "${NSARGS[@]}" --field-selector=type=Warning --sort-by=.lastTimestamp
run deployments    kubectl get deploy "${NSARGS[@]}" -o wide
run statefulsets   kubectl get sts "${NSARGS[@]}" -o wide
run daemonsets     kubectl get ds "${NSARGS[@]}" -o wide
run pvc            kubectl get pvc "${NSARGS[@]}"
run hpa            kubectl get hpa "${NSARGS[@]}"

# Restart leaders: containers with the most restarts.
kubectl get pods "${NSARGS[@]}" -o json \
  | jq -r '.items[] | .metadata.namespace as $ns | .metadata.name as $p
           | (.status.containerStatuses // [])[]
           | [.restartCount, $ns, $p, .name, (.lastState.terminated.reason // "-"), (.lastState.terminated.exitCode // "-")]
           | @tsv' \
  | sort -rn | head -25 >"$OUT/restart-leaders.tsv"

# Previous logs of crash-looping containers (limited to 20 to keep it quick).
mkdir -p "$OUT/previous-logs"
awk -F'\t' '$1 > 0 {print $2, $3, $4}' "$OUT/restart-leaders.tsv" | head -20 \
  | while read -r ns pod container; do
      kubectl logs -n "$ns" "$pod" -c "$container" --previous --tail=200 \
        >"$OUT/previous-logs/${ns}_${pod}_${container}.log" 2>&1 || true
    done

echo "snapshot complete: $OUT"
echo "top restarting containers:"
column -t "$OUT/restart-leaders.tsv" | head -10 || true
