#!/usr/bin/env bash
# Logical backup of one PostgreSQL database to S3 with validation, checksum and metrics.
# Connection via libpq env vars (PGHOST, PGPORT, PGUSER, PGDATABASE; password from ~/.pgpass).
#
# Required env: BUCKET, PREFIX
# Optional env: KMS_KEY_ID (SSE-KMS key id/alias; default SSE-S3), SPOOL_DIR (default /var/backups/pg),
#               STORAGE_CLASS (default STANDARD_IA), TEXTFILE_DIR (node_exporter textfile collector dir),
#               EXTRA_DUMP_ARGS (e.g. "--exclude-table-data=audit_log")
set -euo pipefail

: "${BUCKET:?set BUCKET}" "${PREFIX:?set PREFIX}" "${PGDATABASE:?set PGDATABASE}"
SPOOL_DIR="${SPOOL_DIR:-/var/backups/pg}"
STORAGE_CLASS="${STORAGE_CLASS:-STANDARD_IA}"
TEXTFILE_DIR="${TEXTFILE_DIR:-/var/lib/node_exporter/textfile_collector}"
read -r -a EXTRA <<<"${EXTRA_DUMP_ARGS:-}"

DB="$PGDATABASE"
TS=$(date -u +%Y%m%dT%H%M%SZ)
KEY="$PREFIX/$DB/$(date -u +%Y/%m/%d)/$DB-$TS.dump"
FILE="$SPOOL_DIR/$DB-$TS.dump"
START=$(date +%s)

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }

write_metrics() {   # write_metrics success(0|1) size_bytes
  [[ -d "$TEXTFILE_DIR" ]] || return 0
  local tmp="$TEXTFILE_DIR/.pg_backup_$DB.prom.$$"
  {
    echo "# HELP backup_last_run_success 1 if the last backup run succeeded."
    echo "# TYPE backup_last_run_success gauge"
    echo "backup_last_run_success{job=\"pg-backup\",database=\"$DB\"} $1"
    echo "# HELP backup_last_run_timestamp_seconds Unix time of the last backup run."
    echo "# TYPE backup_last_run_timestamp_seconds gauge"
    echo "backup_last_run_timestamp_seconds{job=\"pg-backup\",database=\"$DB\"} $(date +%s)"
    if [[ "$1" == 1 ]]; then
      echo "# HELP backup_last_success_timestamp_seconds Unix time of the last successful backup."
      echo "# TYPE backup_last_success_timestamp_seconds gauge"
      echo "backup_last_success_timestamp_seconds{job=\"pg-backup\",database=\"$DB\"} $(date +%s)"
      echo "# HELP backup_last_size_bytes Size of the last successful backup."
      echo "# TYPE backup_last_size_bytes gauge"
      echo "backup_last_size_bytes{job=\"pg-backup\",database=\"$DB\"} $2"
      echo "# HELP backup_last_duration_seconds Duration of the last successful backup."
      echo "# TYPE backup_last_duration_seconds gauge"
      echo "backup_last_duration_seconds{job=\"pg-backup\",database=\"$DB\"} $(( $(date +%s) - START ))"
    elif [[ -f "$TEXTFILE_DIR/pg_backup_$DB.prom" ]]; then
      # keep the previous success timestamp so BackupStale keeps counting from it
      grep -E '^(# (HELP|TYPE) )?backup_last_(success_timestamp_seconds|size_bytes|duration_seconds)' \
        "$TEXTFILE_DIR/pg_backup_$DB.prom" || true
    fi
  } >"$tmp"
  mv "$tmp" "$TEXTFILE_DIR/pg_backup_$DB.prom"
}

cleanup() {
  local rc=$?
  rm -f "$FILE"
  if [[ $rc -ne 0 ]]; then
    log "backup FAILED (exit $rc)"
    write_metrics 0 0
  fi
}
trap cleanup EXIT

install -d -m 0700 "$SPOOL_DIR"
need=$(psql -XAtc "SELECT pg_database_size(current_database())")
free=$(df --output=avail -B1 "$SPOOL_DIR" | tail -1)
if (( free < need / 2 )); then
  log "ABORT: $SPOOL_DIR has $(numfmt --to=iec "$free") free; database is $(numfmt --to=iec "$need") (compressed dump needs roughly a third to half of that)"
  exit 1
fi

log "dumping $DB from ${PGHOST:-local socket} to $FILE"
pg_dump --format=custom --compress=6 --lock-wait-timeout=300000 \
  ${EXTRA[@]+"${EXTRA[@]}"} --file="$FILE" "$DB"

log "validating archive"
entries=$(pg_restore --list "$FILE" | grep -vc '^;')
(( entries > 0 )) || { log "ABORT: archive has no entries"; exit 1; }

SIZE=$(stat -c %s "$FILE")
SHA=$(sha256sum "$FILE" | cut -d' ' -f1)
PGVER=$(psql -XAtc "SHOW server_version_num")
log "archive ok: $entries TOC entries, $(numfmt --to=iec "$SIZE"), sha256 $SHA"

if [[ -n "${KMS_KEY_ID:-}" ]]; then
  sse=(--sse aws:kms --sse-kms-key-id "$KMS_KEY_ID")
else
  sse=(--sse AES256)
fi

log "uploading to s3://$BUCKET/$KEY"
aws s3 cp "$FILE" "s3://$BUCKET/$KEY" --only-show-errors \
  --storage-class "$STORAGE_CLASS" "${sse[@]}" \
  --metadata "sha256=$SHA,pg-server-version=$PGVER,toc-entries=$entries,source-host=${PGHOST:-local}"

remote_size=$(aws s3api head-object --bucket "$BUCKET" --key "$KEY" --query ContentLength --output text)
[[ "$remote_size" == "$SIZE" ]] || { log "ABORT: uploaded size $remote_size != local $SIZE"; exit 1; }

write_metrics 1 "$SIZE"
log "done in $(( $(date +%s) - START ))s: s3://$BUCKET/$KEY"
