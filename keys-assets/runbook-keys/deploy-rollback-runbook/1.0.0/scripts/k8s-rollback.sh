#!/usr/bin/env bash
# Show Deployment revisions (with images and change causes) and optionally roll back.
# Usage:
#   k8s-rollback.sh -n NS -d DEPLOYMENT                                    # list only
#   k8s-rollback.sh -n NS -d DEPLOYMENT --undo --reason TEXT [--to-revision N] [--yes] [--force-managed]
set -euo pipefail

NS=""; DEPLOY=""; UNDO=0; TO_REV=""; REASON=""; YES=0; FORCE_MANAGED=0; TIMEOUT=600s
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    -d) DEPLOY="$2"; shift 2 ;;
    --undo) UNDO=1; shift ;;
    --to-revision) TO_REV="$2"; shift 2 ;;
    --reason) REASON="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --yes) YES=1; shift ;;
    --force-managed) FORCE_MANAGED=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NS" && -n "$DEPLOY" ]] || { echo "need -n NAMESPACE -d DEPLOYMENT" >&2; exit 2; }

dep=$(kubectl get deploy "$DEPLOY" -n "$NS" -o json)
uid=$(jq -r '.metadata.uid' <<<"$dep")
current=$(jq -r '.metadata.annotations["deployment.kubernetes.io/revision"]' <<<"$dep")

# Revision table from the ReplicaSets owned by this Deployment.
echo "== revisions of $NS/$DEPLOY (current: $current)"
kubectl get rs -n "$NS" -o json | jq -r --arg uid "$uid" '
  [.items[] | select(any(.metadata.ownerReferences[]?; .uid == $uid))
   | { rev: (.metadata.annotations["deployment.kubernetes.io/revision"] | tonumber),
       name: .metadata.name,
       created: .metadata.creationTimestamp,
       replicas: (.status.replicas // 0),
       images: ([.spec.template.spec.containers[].image] | join(",")),
       cause: (.spec.template.metadata.annotations["kubernetes.io/change-cause"] // .metadata.annotations["kubernetes.io/change-cause"] // "-") }]
  | sort_by(.rev) | reverse | .[]
  | "\(.rev)\t\(.created)\t\(.replicas)\t\(.name)\t\(.images)\t\(.cause)"' \
  | awk -F'\t' 'BEGIN {printf "%-5s %-21s %-4s %-40s %s\n", "REV", "CREATED", "PODS", "REPLICASET", "IMAGES | CHANGE-CAUSE"}
               {printf "%-5s %-21s %-4s %-40s %s | %s\n", $1, $2, $3, $4, $5, $6}'

[[ "$UNDO" -eq 1 ]] || exit 0
[[ -n "$REASON" ]] || { echo "--reason is required for --undo (goes into the change-cause)" >&2; exit 2; }

# Managed by something that will revert us?
managed_by=$(jq -r '.metadata.labels["app.kubernetes.io/managed-by"] // ""' <<<"$dep")
argo=$(jq -r '.metadata.labels["argocd.argoproj.io/instance"] // .metadata.annotations["argocd.argoproj.io/tracking-id"] // ""' <<<"$dep")
flux=$(jq -r '.metadata.labels["kustomize.toolkit.fluxcd.io/name"] // .metadata.labels["helm.toolkit.fluxcd.io/name"] // ""' <<<"$dep")
if [[ "$FORCE_MANAGED" -ne 1 ]]; then
  if [[ -n "$argo" ]]; then echo "ABORT: managed by Argo CD ($argo). Revert in Git, or disable auto-sync and pass --force-managed." >&2; exit 1; fi
  if [[ -n "$flux" ]]; then echo "ABORT: managed by Flux ($flux). Revert in Git, or 'flux suspend' and pass --force-managed." >&2; exit 1; fi
  if [[ "$managed_by" == "Helm" ]]; then echo "ABORT: managed by Helm. Use helm-rollback.sh, or pass --force-managed." >&2; exit 1; fi
fi

if [[ -z "$TO_REV" ]]; then
  TO_REV=$(kubectl get rs -n "$NS" -o json | jq -r --arg uid "$uid" --argjson cur "$current" '
    [.items[] | select(any(.metadata.ownerReferences[]?; .uid == $uid))
     | .metadata.annotations["deployment.kubernetes.io/revision"] | tonumber | select(. < $cur)]
    | max // empty')
  [[ -n "$TO_REV" ]] || { echo "no previous revision found (revisionHistoryLimit 0?)" >&2; exit 1; }
fi
[[ "$TO_REV" != "$current" ]] || { echo "revision $TO_REV is already current" >&2; exit 1; }

echo
echo "rollback $NS/$DEPLOY: revision $current -> $TO_REV"
if [[ "$YES" -ne 1 ]]; then
  read -r -p "Proceed? [y/N] " a
  [[ "$a" == "y" || "$a" == "Y" ]] || { echo "aborted"; exit 1; }
fi

kubectl rollout undo "deploy/$DEPLOY" -n "$NS" --to-revision="$TO_REV"
kubectl annotate "deploy/$DEPLOY" -n "$NS" --overwrite \
  "kubernetes.io/change-cause=rollback to rev $TO_REV by ${USER:-unknown} at $(date -u +%FT%TZ): $REASON"

if kubectl rollout status "deploy/$DEPLOY" -n "$NS" --timeout="$TIMEOUT"; then
  echo "rollback complete. Now: verify-deploy-health.sh -n $NS -d $DEPLOY"
else
  echo "rollout did not complete within $TIMEOUT; inspect: kubectl get pods -n $NS -l <selector>" >&2
  exit 1
fi
