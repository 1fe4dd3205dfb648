#!/usr/bin/env bash
# Pre-deployment checks for a certificate + key pair.
# Usage: verify-cert-bundle.sh --cert fullchain.pem --key private.key [--names a.example.com,b.example.com]
#        [--min-days 14] [--cafile /etc/ssl/certs/ca-certificates.crt]
set -euo pipefail

CERT=""; KEY=""; NAMES=""; MIN_DAYS=14; CAFILE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cert) CERT="$2"; shift 2 ;;
    --key) KEY="$2"; shift 2 ;;
    --names) NAMES="$2"; shift 2 ;;
    --min-days) MIN_DAYS="$2"; shift 2 ;;
    --cafile) CAFILE="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -r "$CERT" && -r "$KEY" ]] || { echo "need readable --cert and --key" >&2; exit 2; }

FAIL=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; FAIL=1; }

TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# Split the bundle: first cert = leaf, rest = intermediates.
awk -v dir="$TMP" '/-----BEGIN CERTIFICATE-----/ {n++} n {print > (dir "/cert" n ".pem")}' "$CERT"
LEAF="$TMP/cert1.pem"
[[ -s "$LEAF" ]] || { fail "no PEM certificate found in $CERT"; exit 1; }
count=$(ls "$TMP"/cert*.pem | wc -l)
cat /dev/null >"$TMP/chain.pem"
for ((i = 2; i <= count; i++)); do cat "$TMP/cert$i.pem" >>"$TMP/chain.pem"; done

# 1. Key matches certificate (compare public keys; works for RSA and EC).
if cmp -s <(openssl x509 -in "$LEAF" -noout -pubkey) <(openssl pkey -in "$KEY" -pubout 2>/dev/null); then
  pass "private key matches certificate"
else
  fail "private key does NOT match certificate"
fi

# 2. Chain validates.
verify_args=(-purpose sslserver)
[[ -n "$CAFILE" ]] && verify_args+=(-CAfile "$CAFILE")
if (( count > 1 )); then verify_args+=(-untrusted "$TMP/chain.pem"); fi
if out=$(openssl verify "${verify_args[@]}" "$LEAF" 2>&1); then
  pass "chain verifies ($((count - 1)) intermediate(s) in bundle)"
else
  fail "chain verification: $out"
  (( count == 1 )) && echo "      hint: bundle contains only the leaf; append the intermediate certificate(s)"
fi

# 3. Names present in SAN.
san=$(openssl x509 -in "$LEAF" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')
echo "      SAN: $san"
if [[ -n "$NAMES" ]]; then
  IFS=',' read -r -a want <<<"$NAMES"
  for n in "${want[@]}"; do
    wildcard="*.${n#*.}"
    if grep -Fxq "DNS:$n" <<<"${san//,/$'\n'}" || grep -Fxq "DNS:$wildcard" <<<"${san//,/$'\n'}"; then
      pass "SAN covers $n"
    else
      fail "SAN does not cover $n"
    fi
  done
fi

# 4. Validity window.
if openssl x509 -in "$LEAF" -noout -checkend $((MIN_DAYS * 86400)) >/dev/null; then
  pass "valid for at least $MIN_DAYS more days (notAfter $(openssl x509 -in "$LEAF" -noout -enddate | cut -d= -f2))"
else
  fail "expires within $MIN_DAYS days"
fi
not_before=$(openssl x509 -in "$LEAF" -noout -startdate | cut -d= -f2)
if (( $(date -u -d "$not_before" +%s) <= $(date -u +%s) )); then
  pass "notBefore $not_before is in the past"
else
  fail "notBefore $not_before is in the future (clock skew or early issuance)"
fi

# 5. Key strength.
keyinfo=$(openssl x509 -in "$LEAF" -noout -text | grep -m1 -E 'Public-Key: \(' | tr -d ' ')
bits=$(grep -oE '[0-9]+' <<<"$keyinfo" | head -1)
algo=$(openssl x509 -in "$LEAF" -noout -text | grep -m1 'Public Key Algorithm' | awk -F': ' '{print $2}')
if [[ "$algo" == "rsaEncryption" && "$bits" -lt 2048 ]] || [[ "$algo" == "id-ecPublicKey" && "$bits" -lt 256 ]]; then
  fail "weak key: $algo $bits bits"
else
  pass "key: $algo $bits bits"
fi

# 6. Key file permissions.
perm=$(stat -c '%a' "$KEY")
if [[ "$perm" =~ ^[46]00$ ]]; then pass "key file mode $perm"; else fail "key file mode $perm (want 600 or 400)"; fi

exit "$FAIL"
