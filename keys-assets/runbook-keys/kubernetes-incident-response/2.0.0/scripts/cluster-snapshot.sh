#!/usr/bin/env bash
# Capture cluster state for incident triage before anything is restarted.
# Produces <dir>.tar.gz (since 2.0.0) so the bundle can be attached to a ticket.
# Usage: cluster-snapshot.sh [-n NAMESPACE] [-d OUTPUT_PARENT_DIR] [-k]   (-k keeps the unpacked dir)
set -euo pipefail

NS=""; PARENT="."; KEEP=0
while getopts "n:d:k" opt; do
  case "$opt" in
    n) NS="$OPTARG" ;;
    d) PARENT="$OPTARG" ;;
    k) KEEP=1 ;;
    *) echo "usage: $0 [-n namespace] [-d parent-dir] [-k]" >&2; exit 2 ;;
  esac
done

CTX=$(kubectl config current-context)
NAME="k8s-snapshot-${CTX//[^A-Za-z0-9_.-]/_}-$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$PARENT/$NAME"
mkdir -p "$OUT"
if [[ -n "$NS" ]]; then NSARGS=(-n "$NS"); else NSARGS=(-A); fi

run() {
  local name="$1"; shift
  printf '  %-20s' "$name"
  local start=$SECONDS
  if timeout 60 "$@" >"$OUT/$name.txt" 2>&1; then echo "ok ($((SECONDS-start))s)"; else echo "failed"; fi
}

{
  echo "context: $CTX"
  echo "namespace: ${NS:-all}"
  echo "captured_at: $(date -u +%FT%TZ)"
  echo "captured_by: ${USER:-unknown}@$(hostname)"
} >"$OUT/meta.txt"

echo "context=$CTX namespace=${NS:-all}"
run version          kubectl version
run api-readyz       kubectl get --raw='/readyz?verbose'
run nodes            kubectl get nodes -o wide
run node-conditions  kubectl get nodes -o custom-columns='NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,MEM:.status.conditions[?(@.type=="MemoryPressure")].status,DISK:.status.conditions[?(@.type=="DiskPressure")].status,PID:.status.conditions[?(@.type=="PIDPressure")].status,UNSCHED:.spec.unschedulable,TAINTS:.spec.taints[*].key'
run node-top         kubectl top nodes
run pods-unhealthy   kubectl get pods "${NSARGS[@]}" -o wide --field-selector='status.phase!=Running,status.phase!=Succeeded'
run pods-all         kubectl get pods "${NSARGS[@]}" -o wide
run pod-top          kubectl top pods "${NSARGS[@]}" --containers
run events           kubectl get events "${NSARGS[@]}" --sort-by=.lastTimestamp
run warnings         kubectl get events "${NSARGS[@]}" --field-selector=type=Warning --sort-by=.lastTimestamp
run workloads        kubectl get deploy,sts,ds,job "${NSARGS[@]}" -o wide
run hpa              kubectl get hpa "${NSARGS[@]}"
run pvc              kubectl get pvc "${NSARGS[@]}"
run pdb              kubectl get pdb "${NSARGS[@]}"
run netpol           kubectl get networkpolicy "${NSARGS[@]}"
run coredns-pods     kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide
run coredns-logs     kubectl -n kube-system logs -l k8s-app=kube-dns --since=30m --tail=300 --prefix

# Services whose EndpointSlices have no ready address.
kubectl get endpointslices "${NSARGS[@]}" -o json \
  | jq -r '.items[]
      | select(.metadata.labels["kubernetes.io/service-name"] != null)
      | {ns: .metadata.namespace, svc: .metadata.labels["kubernetes.io/service-name"],
         ready: ([.endpoints[]? | select(.conditions.ready == true)] | length)}' \
  | jq -rs 'group_by(.ns + "/" + .svc)[]
      | {name: (.[0].ns + "/" + .[0].svc), ready: (map(.ready) | add)}
      | select(.ready == 0) | .name' >"$OUT/services-without-ready-endpoints.txt"

kubectl get pods "${NSARGS[@]}" -o json \
  | jq -r '.items[] | .metadata.namespace as $ns | .metadata.name as $p
           | (.status.containerStatuses // [])[]
           | [.restartCount, $ns, $p, .name, (.lastState.terminated.reason // "-"), (.lastState.terminated.exitCode // "-")]
           | @tsv' \
  | sort -rn | head -25 >"$OUT/restart-leaders.tsv"

mkdir -p "$OUT/previous-logs"
awk -F'\t' '$1 > 0 {print $2, $3, $4}' "$OUT/restart-leaders.tsv" | head -20 \
  | while read -r ns pod container; do
      kubectl logs -n "$ns" "$pod" -c "$container" --previous --tail=300 \
        >"$OUT/previous-logs/${ns}_${pod}_${container}.log" 2>&1 || true
    done

tar -C "$PARENT" -czf "$OUT.tar.gz" "$NAME"
[[ "$KEEP" -eq 1 ]] || rm -rf "$OUT"

echo
echo "bundle: $OUT.tar.gz ($(du -h "$OUT.tar.gz" | cut -f1))"
echo "top restarting containers:"
tar -xzOf "$OUT.tar.gz" "$NAME/restart-leaders.tsv" | column -t | head -10 || true
echo "services without ready endpoints:"
tar -xzOf "$OUT.tar.gz" "$NAME/services-without-ready-endpoints.txt" | sed 's/^/  /' || true
