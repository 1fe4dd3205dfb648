#!/usr/bin/env bash
# Replace a kubernetes.io/tls secret in place, keeping a backup, then verify the
# ingress serves the new certificate.
# Usage: rotate-k8s-tls-secret.sh -n NAMESPACE -s SECRET --cert fullchain.pem --key key.pem
#        [--host HOSTNAME] [--restart deploy/NAME]...
set -euo pipefail

NS=""; SECRET=""; CERT=""; KEY=""; HOST=""; RESTARTS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    -s) SECRET="$2"; shift 2 ;;
    --cert) CERT="$2"; shift 2 ;;
    --key) KEY="$2"; shift 2 ;;
    --host) HOST="$2"; shift 2 ;;
    --restart) RESTARTS+=("$2"); shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NS" && -n "$SECRET" && -r "$CERT" && -r "$KEY" ]] || { echo "need -n -s --cert --key" >&2; exit 2; }

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }

cmp -s <(openssl x509 -in "$CERT" -noout -pubkey) <(openssl pkey -in "$KEY" -pubout) \
  || { log "ABORT: key does not match certificate"; exit 1; }
new_serial=$(openssl x509 -in "$CERT" -noout -serial | cut -d= -f2)

if kubectl get secret "$SECRET" -n "$NS" >/dev/null 2>&1; then
  BACKUP="./${NS}-${SECRET}-$(date -u +%Y%m%dT%H%M%SZ).yaml"
  umask 077
  kubectl get secret "$SECRET" -n "$NS" -o yaml \
    | grep -vE '^\s+(resourceVersion|uid|creationTimestamp):' >"$BACKUP"
  old_serial=$(kubectl get secret "$SECRET" -n "$NS" -o jsonpath='{.data.tls\.crt}' \
    | base64 -d | openssl x509 -noout -serial | cut -d= -f2)
  log "backup: $BACKUP (contains the old private key; delete after the change window)"
  log "old serial $old_serial -> new serial $new_serial"
else
  log "secret $NS/$SECRET does not exist; creating it"
fi

kubectl create secret tls "$SECRET" -n "$NS" --cert="$CERT" --key="$KEY" \
  --dry-run=client -o yaml | kubectl apply -f -

for r in ${RESTARTS[@]+"${RESTARTS[@]}"}; do
  log "restarting $r"
  kubectl rollout restart "$r" -n "$NS"
  kubectl rollout status "$r" -n "$NS" --timeout=300s
done

if [[ -n "$HOST" ]]; then
  log "waiting for $HOST to serve serial $new_serial"
  for _ in $(seq 1 24); do
    served=$(openssl s_client -connect "$HOST:443" -servername "$HOST" </dev/null 2>/dev/null \
      | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2 || true)
    if [[ "$served" == "$new_serial" ]]; then
      log "OK: $HOST serves the new certificate"
      exit 0
    fi
    sleep 5
  done
  log "WARNING: $HOST still serves serial '${served:-none}' after 2 minutes."
  log "Check the Ingress tls.secretName, the ingress controller logs, and any CDN/LB in front."
  exit 1
fi
