#!/usr/bin/env bash
# Diagnose DiskPressure on a Kubernetes node without logging in to it.
# Uses the kubelet Summary API (through the API server proxy) for node filesystem,
# image filesystem and per-pod ephemeral storage, plus the kubelet's eviction thresholds.
# Usage: k8s-node-disk-pressure.sh NODE [--top 15]
# Needs RBAC: get nodes/proxy.
set -euo pipefail

NODE="${1:?usage: $0 NODE [--top N]}"; shift
TOP=15
if [[ "${1:-}" == "--top" ]]; then TOP="${2:?}"; fi

human() { numfmt --to=iec --suffix=B "$1"; }

echo "== node conditions"
kubectl get node "$NODE" -o json \
  | jq -r '.status.conditions[] | select(.type | test("Pressure|Ready")) | "  \(.type)=\(.status) since \(.lastTransitionTime) \(.message)"'

summary=$(kubectl get --raw "/api/v1/nodes/$NODE/proxy/stats/summary")

echo "== filesystems (kubelet view)"
printf '  %-8s %-10s %-10s %-10s %-6s %s\n' FS USED CAPACITY AVAIL USED% INODES_FREE
jq -r '[["nodefs", .node.fs], ["imagefs", .node.runtime.imageFs]][]
       | select(.[1] != null)
       | [.[0], .[1].usedBytes // 0, .[1].capacityBytes // 0, .[1].availableBytes // 0,
          (.[1].inodesFree // "-"), (.[1].inodes // "-")] | @tsv' <<<"$summary" \
  | while IFS=$'\t' read -r fs used cap avail ifree itotal; do
      pct=$(( cap > 0 ? used * 100 / cap : 0 ))
      printf '  %-8s %-10s %-10s %-10s %-6s %s/%s\n' "$fs" "$(human "$used")" "$(human "$cap")" "$(human "$avail")" "$pct%" "$ifree" "$itotal"
    done

echo "== eviction thresholds (kubelet config)"
kubectl get --raw "/api/v1/nodes/$NODE/proxy/configz" 2>/dev/null \
  | jq -r '.kubeletconfig | "  evictionHard=\(.evictionHard // {} | tojson)\n  evictionSoft=\(.evictionSoft // {} | tojson)\n  imageGCHighThresholdPercent=\(.imageGCHighThresholdPercent) imageGCLowThresholdPercent=\(.imageGCLowThresholdPercent)"' \
  || echo "  (configz not readable)"

echo "== top $TOP pods by ephemeral storage (container rootfs + logs + emptyDir)"
printf '  %-10s %-10s %-10s %s\n' TOTAL LOGS WRITABLE POD
jq -r '.pods[]
  | [ (."ephemeral-storage".usedBytes // 0),
      ([.containers[]?.logs.usedBytes // 0] | add // 0),
      ([.containers[]?.rootfs.usedBytes // 0] | add // 0),
      "\(.podRef.namespace)/\(.podRef.name)" ] | @tsv' <<<"$summary" \
  | sort -rn | head -"$TOP" \
  | while IFS=$'\t' read -r total logs rootfs pod; do
      printf '  %-10s %-10s %-10s %s\n' "$(human "$total")" "$(human "$logs")" "$(human "$rootfs")" "$pod"
    done || true

echo "== largest emptyDir / ephemeral volumes"
jq -r '.pods[] | "\(.podRef.namespace)/\(.podRef.name)" as $p
  | (.volume // [])[] | select(.usedBytes != null and .usedBytes > 0 and (.pvcRef == null))
  | [.usedBytes, $p, .name] | @tsv' <<<"$summary" \
  | sort -rn | head -10 \
  | while IFS=$'\t' read -r used pod vol; do printf '  %-10s %s (volume %s)\n' "$(human "$used")" "$pod" "$vol"; done || true

echo "== recent evictions on this node"
kubectl get events -A --field-selector "reason=Evicted" -o json \
  | jq -r --arg n "$NODE" '.items[] | select(.source.host == $n or (.message | test($n)))
      | "  \(.lastTimestamp) \(.involvedObject.namespace)/\(.involvedObject.name): \(.message)"' | tail -10 || true

cat <<HINTS

== next steps
  - Unused images: kubectl debug node/$NODE -it --image=busybox:1.36 -- chroot /host crictl rmi --prune
  - Pod filling emptyDir or logs: set resources.limits.ephemeral-storage (and emptyDir.sizeLimit)
    so the kubelet evicts that pod instead of the whole node hitting DiskPressure.
  - Chatty container logs: containerLogMaxSize / containerLogMaxFiles in the kubelet config.
  - Node still under pressure: cordon + drain it and let the node group replace it.
HINTS
