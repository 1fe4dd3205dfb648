#!/usr/bin/env bash
# In-cluster DNS check from a throwaway pod plus CoreDNS health.
# Usage: dns-check.sh [-n NAMESPACE] [--name FQDN] [--external example.com]
# Exit code: 0 = all lookups succeeded, 1 = at least one failed.
set -euo pipefail

NS=default
NAME="kubernetes.default.svc.cluster.local"
EXTERNAL="registry.k8s.io"
IMAGE="registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --external) EXTERNAL="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

POD="dns-check-$(date +%s)"
FAIL=0
cleanup() { kubectl delete pod "$POD" -n "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== CoreDNS pods"
kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide
not_ready=$(kubectl -n kube-system get pods -l k8s-app=kube-dns -o json \
  | jq '[.items[] | select(any(.status.conditions[]?; .type=="Ready" and .status!="True"))] | length')
[[ "$not_ready" -eq 0 ]] || { echo "WARN: $not_ready CoreDNS pod(s) not Ready"; FAIL=1; }

echo "== kube-dns endpoints"
kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns \
  -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}{" ready="}{.conditions.ready}{"\n"}{end}'

echo "== starting $POD in namespace $NS"
kubectl run "$POD" -n "$NS" --image="$IMAGE" --restart=Never \
  --labels=app.kubernetes.io/name=dns-check --command -- sleep 300 >/dev/null
kubectl wait -n "$NS" --for=condition=Ready "pod/$POD" --timeout=90s >/dev/null

echo "== resolv.conf inside the pod"
kubectl exec -n "$NS" "$POD" -- cat /etc/resolv.conf

lookup() {
  local fqdn="$1" out
  if out=$(kubectl exec -n "$NS" "$POD" -- dig +time=2 +tries=2 +short "$fqdn" 2>&1) && [[ -n "$out" ]]; then
    echo "OK   $fqdn -> $(tr '\n' ' ' <<<"$out")"
  else
    echo "FAIL $fqdn ${out:-(empty answer)}"
    FAIL=1
  fi
}

echo "== lookups"
lookup "kubernetes.default.svc.cluster.local"
[[ "$NAME" != "kubernetes.default.svc.cluster.local" ]] && lookup "$NAME"
lookup "$EXTERNAL"

echo "== latency (10 queries for $NAME)"
kubectl exec -n "$NS" "$POD" -- sh -c \
  "for i in 1 2 3 4 5 6 7 8 9 10; do dig +time=5 +tries=1 $NAME | awk '/Query time/ {print \$4}'; done" \
  | sort -n | awk '{a[NR]=$1} END {if (NR) printf "min=%sms median=%sms max=%sms\n", a[1], a[int((NR+1)/2)], a[NR]}'

echo "== CoreDNS errors (last 10 minutes)"
kubectl -n kube-system logs -l k8s-app=kube-dns --since=10m --tail=500 --prefix 2>/dev/null \
  | grep -Ei 'error|timeout|SERVFAIL|refused' | tail -20 || echo "(none)"

if [[ "$FAIL" -eq 0 ]]; then echo "RESULT: DNS healthy"; else echo "RESULT: DNS problems found"; fi
exit "$FAIL"
