#!/usr/bin/env bash
# Timed restore drill: newest (or given) backup from S3 -> checksum -> scratch database ->
# sanity checks -> markdown report with RPO/RTO.
# Connection to the DRILL server via libpq env vars (PGHOST, PGPORT, PGUSER). Never point this at production.
#
# Usage: restore-drill.sh --db NAME [--key s3-key] [--jobs 4] [--workdir /var/tmp/drill]
#                         [--freshness-table public.orders --freshness-column created_at] [--keep]
# Env: BUCKET, PREFIX (same as pg-backup-to-s3.sh); TEXTFILE_DIR for drill metrics.
set -euo pipefail

: "${BUCKET:?set BUCKET}" "${PREFIX:?set PREFIX}"
DB=""; KEY=""; JOBS=4; WORKDIR=/var/tmp/drill; FT=""; FC=""; KEEP=0
TEXTFILE_DIR="${TEXTFILE_DIR:-/var/lib/node_exporter/textfile_collector}"
SQL_DIR="$(cd "$(dirname "$0")/../sql" && pwd)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --db) DB="$2"; shift 2 ;;
    --key) KEY="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --workdir) WORKDIR="$2"; shift 2 ;;
    --freshness-table) FT="$2"; shift 2 ;;
    --freshness-column) FC="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$DB" ]] || { echo "need --db" >&2; exit 2; }

TS=$(date -u +%Y%m%dT%H%MZ)
SCRATCH="drill_${DB}_${TS,,}"
REPORT="$PWD/drill-report-$DB-$TS.md"
log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" | tee -a "$REPORT.log"; }

# Refuse obvious production targets.
if [[ "$(psql -XAtd postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" != "0" ]]; then
  log "ABORT: a database named '$DB' exists on ${PGHOST:-local}; this looks like production. Use a drill server."
  exit 1
fi

install -d -m 0700 "$WORKDIR"
T0=$(date +%s)

if [[ -z "$KEY" ]]; then
  KEY=$(aws s3api list-objects-v2 --bucket "$BUCKET" --prefix "$PREFIX/$DB/" \
        --query 'sort_by(Contents,&LastModified)[-1].Key' --output text)
  [[ -n "$KEY" && "$KEY" != "None" ]] || { log "ABORT: no backups under s3://$BUCKET/$PREFIX/$DB/"; exit 1; }
fi
head=$(aws s3api head-object --bucket "$BUCKET" --key "$KEY" --output json)
want_sha=$(jq -r '.Metadata.sha256 // empty' <<<"$head")
backup_time=$(jq -r '.LastModified' <<<"$head")
log "backup: s3://$BUCKET/$KEY ($(numfmt --to=iec "$(jq -r .ContentLength <<<"$head")"), $backup_time)"

FILE="$WORKDIR/$(basename "$KEY")"
aws s3 cp "s3://$BUCKET/$KEY" "$FILE" --only-show-errors
T1=$(date +%s)
log "download took $((T1 - T0))s"

got_sha=$(sha256sum "$FILE" | cut -d' ' -f1)
if [[ -z "$want_sha" ]]; then
  log "WARNING: object has no sha256 metadata; cannot verify integrity"
  CHECKSUM="not available"
elif [[ "$got_sha" == "$want_sha" ]]; then
  log "checksum ok ($got_sha)"; CHECKSUM="ok"
else
  log "ABORT: checksum mismatch: stored $want_sha, downloaded $got_sha"; exit 1
fi

log "creating scratch database $SCRATCH"
createdb "$SCRATCH"
cleanup() {
  rm -f "$FILE"
  if [[ "$KEEP" -ne 1 ]]; then dropdb --if-exists "$SCRATCH" && log "dropped $SCRATCH"; else log "kept $SCRATCH (drop it when done)"; fi
}
trap cleanup EXIT

log "pg_restore with $JOBS jobs"
set +e
pg_restore --dbname="$SCRATCH" --jobs="$JOBS" --no-owner --no-acl --exit-on-error "$FILE" 2>"$WORKDIR/pg_restore.err"
RESTORE_RC=$?
set -e
T2=$(date +%s)
log "pg_restore exit $RESTORE_RC after $((T2 - T1))s"
[[ $RESTORE_RC -eq 0 ]] || { tail -20 "$WORKDIR/pg_restore.err" | tee -a "$REPORT.log"; }

psql_vars=(-v ON_ERROR_STOP=1)
if [[ -n "$FT" && -n "$FC" ]]; then psql_vars+=(-v "freshness_table=$FT" -v "freshness_column=$FC"); fi
set +e
checks=$(psql -X -d "$SCRATCH" "${psql_vars[@]}" -f "$SQL_DIR/sanity-checks.sql" 2>&1)
CHECK_RC=$?
set -e
log "sanity checks exit $CHECK_RC"

newest=""; newest_epoch=""
if [[ -n "$FT" && -n "$FC" ]]; then
  newest=$(psql -XAt -d "$SCRATCH" -c "SELECT max(\"$FC\") FROM $FT" 2>/dev/null || true)
  newest_epoch=$(psql -XAt -d "$SCRATCH" -c "SELECT extract(epoch FROM max(\"$FC\"))::bigint FROM $FT" 2>/dev/null || true)
fi
[[ "$newest_epoch" =~ ^[0-9]+$ ]] || newest_epoch=$(date -d "$backup_time" +%s)
RPO_H=$(( ( $(date +%s) - newest_epoch ) / 3600 ))
RTO_S=$((T2 - T0))
STATUS=$([[ $RESTORE_RC -eq 0 && $CHECK_RC -eq 0 ]] && echo PASS || echo FAIL)

cat >"$REPORT" <<REPORT
# Restore drill report: $DB

| Item | Value |
|------|-------|
| Result | **$STATUS** |
| Date (UTC) | $(date -u +%F\ %T) |
| Operator | ${USER:-unknown} on $(hostname) |
| Backup object | s3://$BUCKET/$KEY |
| Backup taken | $backup_time |
| Checksum | $CHECKSUM |
| Drill server | ${PGHOST:-local socket}, PostgreSQL $(psql -XAtd postgres -c 'SHOW server_version') |
| Download | $((T1 - T0)) s |
| Restore | $((T2 - T1)) s (pg_restore exit $RESTORE_RC, $JOBS jobs) |
| **RTO (download + restore)** | **$RTO_S s** |
| Newest row ($FT.$FC) | ${newest:-n/a} |
| **RPO (age of newest data)** | **${RPO_H} h** |

## Sanity checks

\`\`\`
$checks
\`\`\`
REPORT

if [[ -d "$TEXTFILE_DIR" && "$STATUS" == PASS ]]; then
  tmp="$TEXTFILE_DIR/.restore_drill_$DB.prom.$$"
  {
    echo "# TYPE restore_drill_last_success_timestamp_seconds gauge"
    echo "restore_drill_last_success_timestamp_seconds{database=\"$DB\"} $(date +%s)"
    echo "# TYPE restore_drill_rto_seconds gauge"
    echo "restore_drill_rto_seconds{database=\"$DB\"} $RTO_S"
  } >"$tmp" && mv "$tmp" "$TEXTFILE_DIR/restore_drill_$DB.prom"
fi

log "report: $REPORT  (RTO ${RTO_S}s, RPO ${RPO_H}h, result $STATUS)"
[[ "$STATUS" == PASS ]]
