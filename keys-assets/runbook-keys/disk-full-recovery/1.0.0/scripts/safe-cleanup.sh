#!/usr/bin/env bash
# Reclaim disk space from regenerable data only.
# Usage: sudo safe-cleanup.sh [--yes] [--docker] [--crictl] [--journal-max 500M] [--log-age 7]
set -euo pipefail

YES=0; DOCKER=0; CRICTL=0; JOURNAL_MAX=500M; LOG_AGE=7
while [[ $# -gt 0 ]]; do
  case "$1" in
    --yes) YES=1; shift ;;
    --docker) DOCKER=1; shift ;;
    --crictl) CRICTL=1; shift ;;
    --journal-max) JOURNAL_MAX="$2"; shift 2 ;;
    --log-age) LOG_AGE="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

avail() { df --output=avail -B1 / /var 2>/dev/null | tail -n +2 | awk '{s+=$1} END {print s}'; }
human() { numfmt --to=iec --suffix=B "$1"; }

confirm() {
  [[ $YES -eq 1 ]] && return 0
  read -r -p "$1 [y/N] " a
  [[ "$a" == "y" || "$a" == "Y" ]]
}

step() {
  local desc="$1"; shift
  if confirm "$desc?"; then
    local before after
    before=$(avail)
    "$@" || echo "  (step returned an error; continuing)"
    after=$(avail)
    echo "  freed ~$(human $(( after > before ? after - before : 0 )))"
  else
    echo "  skipped"
  fi
}

start=$(avail)
echo "available on / and /var before: $(human "$start")"

if command -v journalctl >/dev/null; then
  step "Vacuum systemd journal to $JOURNAL_MAX" journalctl --vacuum-size="$JOURNAL_MAX"
fi

if command -v apt-get >/dev/null; then
  step "Clean apt package cache" apt-get clean
elif command -v dnf >/dev/null; then
  step "Clean dnf package cache" dnf clean all
elif command -v yum >/dev/null; then
  step "Clean yum package cache" yum clean all
fi

delete_rotated_logs() {
  local n
  n=$(find /var/log -xdev -type f \( -name '*.gz' -o -name '*.xz' -o -name '*.bz2' -o -name '*.zst' \
        -o -name '*.[0-9]' -o -name '*.[0-9][0-9]' -o -name '*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' \) \
        -mtime +"$LOG_AGE" -print -delete | wc -l)
  echo "  deleted $n rotated log files"
}
step "Delete rotated/compressed logs in /var/log older than $LOG_AGE days" delete_rotated_logs

delete_cores() {
  for d in /var/lib/systemd/coredump /var/crash; do
    [[ -d "$d" ]] && find "$d" -xdev -type f -mtime +3 -print -delete
  done
  true
}
step "Delete core dumps older than 3 days" delete_cores

if [[ $DOCKER -eq 1 ]] && command -v docker >/dev/null; then
  step "Docker: remove unused images older than 7 days and build cache" \
    sh -c 'docker image prune -af --filter "until=168h" && docker builder prune -af --filter "until=168h"'
fi

if [[ $CRICTL -eq 1 ]] && command -v crictl >/dev/null; then
  step "containerd: remove images not used by any container" crictl rmi --prune
fi

end=$(avail)
echo "available on / and /var after: $(human "$end") (freed ~$(human $(( end > start ? end - start : 0 ))))"
df -h / /var 2>/dev/null | awk '!seen[$0]++'
