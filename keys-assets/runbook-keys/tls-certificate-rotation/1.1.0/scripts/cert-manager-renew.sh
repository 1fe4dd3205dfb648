#!/usr/bin/env bash
# Diagnose and force-renew a cert-manager Certificate, then wait for the new
# revision to become Ready. Prints the ACME order/challenge chain on failure.
# Requires: kubectl, jq, and cmctl (https://cert-manager.io/docs/reference/cmctl/)
#           or the kubectl cert-manager plugin.
# Usage: cert-manager-renew.sh -n NAMESPACE CERTIFICATE [--timeout 300] [--status-only]
set -euo pipefail

NS=""; CERT=""; TIMEOUT=300; STATUS_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --status-only) STATUS_ONLY=1; shift ;;
    -*) echo "unknown flag $1" >&2; exit 2 ;;
    *) CERT="$1"; shift ;;
  esac
done
[[ -n "$NS" && -n "$CERT" ]] || { echo "usage: $0 -n NAMESPACE CERTIFICATE" >&2; exit 2; }

if command -v cmctl >/dev/null; then CM=(cmctl)
elif kubectl cert-manager --help >/dev/null 2>&1; then CM=(kubectl cert-manager)
else echo "install cmctl or the kubectl cert-manager plugin" >&2; exit 2; fi

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }

cert_json=$(kubectl get certificate "$CERT" -n "$NS" -o json)
issuer_kind=$(jq -r '.spec.issuerRef.kind // "Issuer"' <<<"$cert_json")
issuer_name=$(jq -r '.spec.issuerRef.name' <<<"$cert_json")
secret=$(jq -r '.spec.secretName' <<<"$cert_json")
rev_before=$(jq -r '.status.revision // 0' <<<"$cert_json")

log "certificate $NS/$CERT secret=$secret issuer=$issuer_kind/$issuer_name revision=$rev_before"
jq -r '(.status.conditions // [])[] | "  \(.type)=\(.status) reason=\(.reason // "-") \(.message // "")"' <<<"$cert_json"
jq -r '"  notAfter=\(.status.notAfter // "-") renewalTime=\(.status.renewalTime // "-")"' <<<"$cert_json"

# Issuer health: a non-Ready issuer means renewal cannot succeed.
if [[ "$issuer_kind" == "ClusterIssuer" ]]; then
  issuer_ready=$(kubectl get clusterissuer "$issuer_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
else
  issuer_ready=$(kubectl get issuer "$issuer_name" -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
fi
log "issuer $issuer_kind/$issuer_name Ready=$issuer_ready"
[[ "$issuer_ready" == "True" ]] || log "WARNING: issuer not Ready; fix it first (kubectl describe ${issuer_kind,,} $issuer_name)"

show_chain() {
  log "certificate requests / orders / challenges in $NS:"
  kubectl get certificaterequests -n "$NS" -o wide 2>/dev/null | grep -E "NAME|$CERT" || true
  kubectl get orders.acme.cert-manager.io -n "$NS" 2>/dev/null | grep -E "NAME|$CERT" || true
  kubectl get challenges.acme.cert-manager.io -n "$NS" -o wide 2>/dev/null | grep -E "NAME|$CERT" || true
  local ch
  ch=$(kubectl get challenges.acme.cert-manager.io -n "$NS" -o json 2>/dev/null \
    | jq -r --arg c "$CERT" '.items[] | select(.metadata.name | startswith($c)) | .metadata.name' | tail -1 || true)
  if [[ -n "$ch" ]]; then
    log "latest challenge $ch:"
    kubectl get challenges.acme.cert-manager.io "$ch" -n "$NS" -o json \
      | jq -r '"  type=\(.spec.type) domain=\(.spec.dnsName) state=\(.status.state // "-") reason=\(.status.reason // "-")"'
  fi
  log "cert-manager controller errors (last 15 min):"
  kubectl logs -n cert-manager deploy/cert-manager --since=15m 2>/dev/null \
    | grep -E "\"$NS/$CERT|$CERT" | grep -iE 'error|fail' | tail -15 || true
}

if [[ "$STATUS_ONLY" -eq 1 ]]; then
  "${CM[@]}" status certificate "$CERT" -n "$NS"
  show_chain
  exit 0
fi

log "triggering renewal"
"${CM[@]}" renew "$CERT" -n "$NS"

deadline=$((SECONDS + TIMEOUT))
while (( SECONDS < deadline )); do
  cert_json=$(kubectl get certificate "$CERT" -n "$NS" -o json)
  rev=$(jq -r '.status.revision // 0' <<<"$cert_json")
  ready=$(jq -r '(.status.conditions // [])[] | select(.type=="Ready") | .status' <<<"$cert_json")
  issuing=$(jq -r '(.status.conditions // [])[] | select(.type=="Issuing") | .status' <<<"$cert_json")
  if (( rev > rev_before )) && [[ "$ready" == "True" && "$issuing" != "True" ]]; then
    serial=$(kubectl get secret "$secret" -n "$NS" -o jsonpath='{.data.tls\.crt}' | base64 -d \
      | openssl x509 -noout -serial -enddate | tr '\n' ' ')
    log "OK: revision $rev_before -> $rev, Ready=True; secret $secret: $serial"
    exit 0
  fi
  sleep 5
done

log "ERROR: not renewed within ${TIMEOUT}s (revision=$rev ready=$ready issuing=$issuing)"
show_chain
exit 1
