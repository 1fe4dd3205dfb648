#!/usr/bin/env bash
# Audit the controls on an S3 bucket that holds backups.
# Usage: s3-backup-audit.sh --bucket NAME [--prefix path/in/bucket] [--days 7]
# Exit code 1 if any FAIL.
set -euo pipefail

BUCKET=""; PREFIX=""; DAYS=7
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bucket) BUCKET="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --days) DAYS="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$BUCKET" ]] || { echo "need --bucket" >&2; exit 2; }

FAIL=0
pass() { echo "PASS  $*"; }
warn() { echo "WARN  $*"; }
fail() { echo "FAIL  $*"; FAIL=1; }
api() { aws s3api "$@" --bucket "$BUCKET" --output json 2>/dev/null; }

echo "== s3://$BUCKET ($(aws s3api get-bucket-location --bucket "$BUCKET" --query LocationConstraint --output text))"

v=$(api get-bucket-versioning | jq -r '.Status // "Disabled"' || echo Disabled)
[[ "$v" == "Enabled" ]] && pass "versioning Enabled" || fail "versioning $v (deleted/overwritten backups are unrecoverable)"

if ol=$(api get-object-lock-configuration); then
  mode=$(jq -r '.ObjectLockConfiguration.Rule.DefaultRetention.Mode // "none"' <<<"$ol")
  days=$(jq -r '.ObjectLockConfiguration.Rule.DefaultRetention.Days // .ObjectLockConfiguration.Rule.DefaultRetention.Years // "-"' <<<"$ol")
  case "$mode" in
    COMPLIANCE) pass "object lock COMPLIANCE, default retention $days" ;;
    GOVERNANCE) warn "object lock GOVERNANCE ($days): users with s3:BypassGovernanceRetention can delete" ;;
    *) warn "object lock enabled but no default retention" ;;
  esac
else
  fail "object lock not configured (ransomware / compromised credentials can delete backups)"
fi

if enc=$(api get-bucket-encryption); then
  algo=$(jq -r '.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm' <<<"$enc")
  [[ "$algo" == "aws:kms" || "$algo" == "aws:kms:dsse" ]] && pass "default encryption $algo" || warn "default encryption $algo (SSE-KMS gives key-level access control and audit)"
else
  fail "no default encryption configuration"
fi

if pab=$(api get-public-access-block); then
  all=$(jq '[.PublicAccessBlockConfiguration[]] | all' <<<"$pab")
  [[ "$all" == "true" ]] && pass "public access block: all four settings on" || fail "public access block incomplete: $(jq -c .PublicAccessBlockConfiguration <<<"$pab")"
else
  fail "no bucket-level public access block"
fi

if pol=$(api get-bucket-policy); then
  tls=$(jq -r '.Policy | fromjson | [.Statement[] | select(.Effect=="Deny") | .Condition.Bool["aws:SecureTransport"]? // empty] | map(tostring) | any(. == "false")' <<<"$pol")
  [[ "$tls" == "true" ]] && pass "policy denies non-TLS requests" || warn "no Deny for aws:SecureTransport=false in bucket policy"
else
  warn "no bucket policy (cannot enforce TLS-only access)"
fi

if lc=$(api get-bucket-lifecycle-configuration); then
  rules=$(jq -r '.Rules[] | select(.Status=="Enabled") | "\(.ID // "-"): expire=\(.Expiration.Days // "-")d noncurrent-expire=\(.NoncurrentVersionExpiration.NoncurrentDays // "-")d transitions=\([.Transitions[]? | "\(.StorageClass)@\(.Days)d"] | join(","))"' <<<"$lc")
  pass "lifecycle rules:"; sed 's/^/        /' <<<"$rules"
  jq -e '[.Rules[] | select(.Status=="Enabled" and .NoncurrentVersionExpiration != null)] | length > 0' <<<"$lc" >/dev/null \
    || warn "no noncurrent-version expiration: old versions are kept (and billed) forever"
else
  warn "no lifecycle rules (retention not enforced; storage grows forever)"
fi

if rep=$(api get-bucket-replication); then
  dest=$(jq -r '[.ReplicationConfiguration.Rules[] | select(.Status=="Enabled") | .Destination.Bucket] | join(", ")' <<<"$rep")
  pass "replication to $dest"
else
  warn "no replication (single-region copy)"
fi

if [[ -n "$PREFIX" ]]; then
  echo "== backups under $PREFIX/ in the last $DAYS days"
  since=$(date -u -d "-$((DAYS - 1)) days" +%F)
  objs=$(aws s3api list-objects-v2 --bucket "$BUCKET" --prefix "$PREFIX/" --output json --query 'Contents' \
    | jq --arg since "$since" '[.[]? | select(.LastModified[0:10] >= $since) | [.Key, .Size, .LastModified]]')
  jq -r '.[] | "\(.[2][0:10])\t\(.[1])"' <<<"$objs" \
    | awk -F'\t' '{n[$1]++; s[$1]+=$2} END {for (d in n) printf "%s\t%d\t%.1f\n", d, n[d], s[d]/1048576}' \
    | sort | awk -F'\t' 'BEGIN {printf "  %-12s %-8s %s\n", "DAY", "OBJECTS", "MB"} {printf "  %-12s %-8s %s\n", $1, $2, $3}'
  days_with=$(jq -r '[.[] | .[2][0:10]] | unique | length' <<<"$objs")
  if (( days_with >= DAYS )); then pass "backups present on $days_with of the last $DAYS days"
  else fail "backups present on only $days_with of the last $DAYS days"; fi
fi

exit "$FAIL"
