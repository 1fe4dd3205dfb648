#!/usr/bin/env bash
# One-screen diagnosis of a single pod: phase, container states, exit codes,
# resources, events, and current + previous logs.
# Usage: pod-debug.sh -n NAMESPACE POD [--tail N]
set -euo pipefail

NS=default; POD=""; TAIL=80
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    --tail) TAIL="$2"; shift 2 ;;
    -*) echo "unknown flag $1" >&2; exit 2 ;;
    *) POD="$1"; shift ;;
  esac
done
[[ -n "$POD" ]] || { echo "usage: $0 -n NAMESPACE POD" >&2; exit 2; }

json=$(kubectl get pod "$POD" -n "$NS" -o json)

echo "== pod $NS/$POD"
jq -r '"phase=\(.status.phase) node=\(.spec.nodeName // "-") qos=\(.status.qosClass) started=\(.status.startTime // "-")"' <<<"$json"
jq -r '(.status.conditions // [])[] | "  condition \(.type)=\(.status) \(.reason // "") \(.message // "")"' <<<"$json"

echo "== containers"
jq -r '
  (.status.initContainerStatuses // [] | map(. + {init: true})) + (.status.containerStatuses // [])
  | .[]
  | "\(if .init then "init " else "" end)\(.name): ready=\(.ready) restarts=\(.restartCount)"
    + " state=\(.state | keys[0]) \(.state[] | .reason // "")"
    + (if .lastState.terminated then
         " | last: reason=\(.lastState.terminated.reason) exit=\(.lastState.terminated.exitCode) finished=\(.lastState.terminated.finishedAt)"
       else "" end)' <<<"$json"

echo "== resources"
jq -r '.spec.containers[] | "\(.name): requests=\(.resources.requests // {} | tojson) limits=\(.resources.limits // {} | tojson)"' <<<"$json"

echo "== exit code hints"
jq -r '[.status.containerStatuses // [] | .[] | .lastState.terminated.exitCode // empty] | unique | .[]' <<<"$json" \
  | while read -r code; do
      case "$code" in
        0)   echo "  0: exited cleanly — check command/args, a server should not exit" ;;
        1|2) echo "  $code: application error — read previous logs" ;;
        126|127) echo "  $code: command not executable / not found in image" ;;
        137) echo "  137: SIGKILL — OOMKilled or liveness probe failure" ;;
        139) echo "  139: segfault" ;;
        143) echo "  143: SIGTERM — graceful shutdown or probe-triggered restart" ;;
        *)   echo "  $code: see application docs" ;;
      esac
    done

echo "== events"
kubectl get events -n "$NS" --field-selector "involvedObject.name=$POD" --sort-by=.lastTimestamp \
  -o custom-columns='LAST:.lastTimestamp,TYPE:.type,REASON:.reason,MESSAGE:.message' | tail -20

for c in $(jq -r '.spec.containers[].name' <<<"$json"); do
  echo "== logs $c (current, last $TAIL lines)"
  kubectl logs -n "$NS" "$POD" -c "$c" --tail="$TAIL" 2>&1 || true
  echo "== logs $c (previous)"
  kubectl logs -n "$NS" "$POD" -c "$c" --previous --tail="$TAIL" 2>&1 || echo "(no previous container)"
done
