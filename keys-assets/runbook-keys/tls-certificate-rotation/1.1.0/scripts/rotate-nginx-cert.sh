#!/usr/bin/env bash
# Install a new certificate/key for NGINX with backup, config test, graceful reload
# and verification of the served serial. Run as root on the NGINX host.
# Usage: rotate-nginx-cert.sh --cert fullchain.pem --key key.pem --dest /etc/nginx/tls/NAME --host HOSTNAME [--port 443]
# Installs to <dest>/fullchain.pem and <dest>/privkey.pem (point ssl_certificate* at these paths).
set -euo pipefail

CERT=""; KEY=""; DEST=""; HOST=""; PORT=443
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cert) CERT="$2"; shift 2 ;;
    --key) KEY="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    --host) HOST="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -r "$CERT" && -r "$KEY" && -n "$DEST" && -n "$HOST" ]] || { echo "need --cert --key --dest --host" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }

cmp -s <(openssl x509 -in "$CERT" -noout -pubkey) <(openssl pkey -in "$KEY" -pubout) \
  || { log "ABORT: key does not match certificate"; exit 1; }

new_serial=$(openssl x509 -in "$CERT" -noout -serial | cut -d= -f2)
BACKUP="$DEST/backup-$(date -u +%Y%m%dT%H%M%SZ)"
install -d -m 0750 "$DEST" "$BACKUP"
for f in fullchain.pem privkey.pem; do
  [[ -e "$DEST/$f" ]] && cp -p "$DEST/$f" "$BACKUP/$f"
done
log "backup in $BACKUP"

restore() {
  log "restoring previous files from $BACKUP"
  for f in fullchain.pem privkey.pem; do
    [[ -e "$BACKUP/$f" ]] && cp -p "$BACKUP/$f" "$DEST/$f"
  done
  nginx -t && systemctl reload nginx
}

install -m 0644 "$CERT" "$DEST/fullchain.pem"
install -m 0600 "$KEY" "$DEST/privkey.pem"

if ! nginx -t; then
  log "nginx -t failed with the new files"
  restore
  exit 1
fi

systemctl reload nginx
log "nginx reloaded; waiting for workers to pick up the new certificate"
sleep 3

served=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null \
  | openssl x509 -noout -serial | cut -d= -f2 || true)
if [[ "$served" == "$new_serial" ]]; then
  log "OK: serving new certificate serial $served for $HOST"
else
  log "WARNING: served serial '$served' != new serial '$new_serial'."
  log "Check which server block handles $HOST (nginx -T | grep -n ssl_certificate)."
  exit 1
fi
