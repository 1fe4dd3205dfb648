#!/usr/bin/env bash
# Verify a service after a rollback (or any deploy):
#  1. rollout complete, pods Ready, no recent restarts, image list
#  2. Prometheus: 5xx ratio and p99 latency now vs. the same time yesterday
#  3. optional health URL
# Usage: verify-deploy-health.sh -n NS -d DEPLOYMENT [--prom URL --service NAME] [--health-url URL]
#        [--max-error-ratio 0.01] [--max-p99 0.5]
# Prometheus metric names (override with env): HTTP_TOTAL=http_requests_total, HTTP_BUCKET=http_request_duration_seconds_bucket,
# label used to select the service: SERVICE_LABEL=service, status code label: CODE_LABEL=code
set -euo pipefail

NS=""; DEPLOY=""; PROM=""; SERVICE=""; HEALTH=""; MAX_ERR=0.01; MAX_P99=0.5
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    -d) DEPLOY="$2"; shift 2 ;;
    --prom) PROM="$2"; shift 2 ;;
    --service) SERVICE="$2"; shift 2 ;;
    --health-url) HEALTH="$2"; shift 2 ;;
    --max-error-ratio) MAX_ERR="$2"; shift 2 ;;
    --max-p99) MAX_P99="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NS" && -n "$DEPLOY" ]] || { echo "need -n and -d" >&2; exit 2; }
HTTP_TOTAL="${HTTP_TOTAL:-http_requests_total}"
HTTP_BUCKET="${HTTP_BUCKET:-http_request_duration_seconds_bucket}"
SERVICE_LABEL="${SERVICE_LABEL:-service}"
CODE_LABEL="${CODE_LABEL:-code}"

FAIL=0
ok()   { echo "PASS  $*"; }
bad()  { echo "FAIL  $*"; FAIL=1; }

# 1. Kubernetes state
if kubectl rollout status "deploy/$DEPLOY" -n "$NS" --timeout=10s >/dev/null 2>&1; then
  ok "rollout of $NS/$DEPLOY complete"
else
  bad "rollout of $NS/$DEPLOY not complete"
fi
dep=$(kubectl get deploy "$DEPLOY" -n "$NS" -o json)
echo "      images: $(jq -r '[.spec.template.spec.containers[].image] | join(", ")' <<<"$dep")"
selector=$(jq -r '.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(",")' <<<"$dep")
pods=$(kubectl get pods -n "$NS" -l "$selector" -o json)
not_ready=$(jq '[.items[] | select(.metadata.deletionTimestamp == null) | select(any(.status.conditions[]?; .type == "Ready" and .status != "True"))] | length' <<<"$pods")
total=$(jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length' <<<"$pods")
if [[ "$not_ready" -eq 0 ]]; then ok "$total/$total pods Ready"; else bad "$not_ready of $total pods not Ready"; fi
recent_restarts=$(jq --arg since "$(date -u -d '-10 min' +%FT%TZ)" '
  [.items[].status.containerStatuses[]? | select(.lastState.terminated.finishedAt != null and .lastState.terminated.finishedAt > $since)] | length' <<<"$pods")
if [[ "$recent_restarts" -eq 0 ]]; then ok "no container restarts in the last 10 minutes"; else bad "$recent_restarts container(s) restarted in the last 10 minutes"; fi

# 2. Prometheus SLIs
promq() {
  curl -fsSG "$PROM/api/v1/query" --data-urlencode "query=$1" \
    | jq -r '.data.result[0].value[1] // "NaN"'
}
if [[ -n "$PROM" && -n "$SERVICE" ]]; then
  sel="${SERVICE_LABEL}=\"$SERVICE\""
  err_q="sum(rate(${HTTP_TOTAL}{${sel},${CODE_LABEL}=~\"5..\"}[5m])) / sum(rate(${HTTP_TOTAL}{${sel}}[5m]))"
  p99_q="histogram_quantile(0.99, sum by (le) (rate(${HTTP_BUCKET}{${sel}}[5m])))"
  err_now=$(promq "$err_q"); err_prev=$(promq "($err_q) offset 1d")
  p99_now=$(promq "$p99_q"); p99_prev=$(promq "($p99_q) offset 1d")
  echo "      5xx ratio now=$err_now yesterday=$err_prev | p99 now=${p99_now}s yesterday=${p99_prev}s"
  if [[ "$err_now" == "NaN" ]]; then bad "no request metrics for $sel (wrong labels, or no traffic)"
  elif awk -v v="$err_now" -v m="$MAX_ERR" 'BEGIN {exit !(v <= m)}'; then ok "5xx ratio $err_now <= $MAX_ERR"
  else bad "5xx ratio $err_now > $MAX_ERR"; fi
  if [[ "$p99_now" == "NaN" ]]; then echo "SKIP  p99 latency (no histogram data)"
  elif awk -v v="$p99_now" -v m="$MAX_P99" 'BEGIN {exit !(v <= m)}'; then ok "p99 ${p99_now}s <= ${MAX_P99}s"
  else bad "p99 ${p99_now}s > ${MAX_P99}s"; fi
fi

# 3. Health endpoint
if [[ -n "$HEALTH" ]]; then
  read -r code time < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 "$HEALTH" || echo "000 0")
  if [[ "$code" == "200" ]]; then ok "$HEALTH -> 200 in ${time}s"; else bad "$HEALTH -> $code"; fi
fi

echo
if [[ "$FAIL" -eq 0 ]]; then echo "RESULT: healthy"; else echo "RESULT: NOT healthy"; fi
exit "$FAIL"
