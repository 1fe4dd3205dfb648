#!/usr/bin/env bash
# Reclaim disk space from regenerable data only.
# Since 1.1.0 the default is a DRY RUN that estimates what each step would free.
# Usage: sudo safe-cleanup.sh [--apply] [--docker] [--crictl] [--journal-max 500M] [--log-age 7] [--core-age 3]
set -euo pipefail

APPLY=0; DOCKER=0; CRICTL=0; JOURNAL_MAX=500M; LOG_AGE=7; CORE_AGE=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --apply) APPLY=1; shift ;;
    --yes) echo "--yes was replaced by --apply in 1.1.0" >&2; exit 2 ;;
    --docker) DOCKER=1; shift ;;
    --crictl) CRICTL=1; shift ;;
    --journal-max) JOURNAL_MAX="$2"; shift 2 ;;
    --log-age) LOG_AGE="$2"; shift 2 ;;
    --core-age) CORE_AGE="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

human() { numfmt --to=iec --suffix=B "${1:-0}"; }
avail() { df --output=avail -B1 / /var 2>/dev/null | tail -n +2 | awk '{s+=$1} END {print s+0}'; }
sum_sizes() { awk '{s+=$1} END {print s+0}'; }

ROTATED=( \( -name '*.gz' -o -name '*.xz' -o -name '*.bz2' -o -name '*.zst'
             -o -name '*.[0-9]' -o -name '*.[0-9][0-9]' -o -name '*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' \) )

TOTAL_EST=0
report() {   # report "description" estimated_bytes
  printf '  %-62s %10s\n' "$1" "$(human "$2")"
  TOTAL_EST=$((TOTAL_EST + $2))
}

echo "mode: $([[ $APPLY -eq 1 ]] && echo APPLY || echo 'DRY RUN (pass --apply to delete)')"
start=$(avail)
echo "available on / and /var: $(human "$start")"
echo

# 1. journald
if command -v journalctl >/dev/null; then
  used=$( { du -sb /var/log/journal /run/log/journal 2>/dev/null || true; } | sum_sizes)
  limit=$(numfmt --from=iec "$JOURNAL_MAX")
  report "journald vacuum to $JOURNAL_MAX (now $(human "$used"))" $(( used > limit ? used - limit : 0 ))
  if [[ $APPLY -eq 1 ]]; then journalctl --vacuum-size="$JOURNAL_MAX" >/dev/null; fi
fi

# 2. package cache
if command -v apt-get >/dev/null; then
  report "apt package cache" "$( { du -sb /var/cache/apt/archives 2>/dev/null || true; } | sum_sizes)"
  if [[ $APPLY -eq 1 ]]; then apt-get clean; fi
elif command -v dnf >/dev/null; then
  report "dnf package cache" "$( { du -sb /var/cache/dnf 2>/dev/null || true; } | sum_sizes)"
  if [[ $APPLY -eq 1 ]]; then dnf clean all >/dev/null; fi
fi

# 3. rotated logs
est=$( { find /var/log -xdev -type f "${ROTATED[@]}" -mtime +"$LOG_AGE" -printf '%s\n' 2>/dev/null || true; } | sum_sizes)
report "rotated/compressed logs in /var/log older than ${LOG_AGE}d" "$est"
if [[ $APPLY -eq 1 ]]; then find /var/log -xdev -type f "${ROTATED[@]}" -mtime +"$LOG_AGE" -delete; fi

# 4. core dumps
core_dirs=()
for d in /var/lib/systemd/coredump /var/crash; do
  if [[ -d "$d" ]]; then core_dirs+=("$d"); fi
done
if [[ ${#core_dirs[@]} -gt 0 ]]; then
  est=$( { find "${core_dirs[@]}" -xdev -type f -mtime +"$CORE_AGE" -printf '%s\n' 2>/dev/null || true; } | sum_sizes)
  report "core dumps older than ${CORE_AGE}d" "$est"
  if [[ $APPLY -eq 1 ]]; then find "${core_dirs[@]}" -xdev -type f -mtime +"$CORE_AGE" -delete; fi
fi

# 5. container images (opt-in)
if [[ $DOCKER -eq 1 ]] && command -v docker >/dev/null; then
  echo "  docker reclaimable (from 'docker system df'):"
  docker system df --format '    {{.Type}}: {{.Reclaimable}}' || true
  if [[ $APPLY -eq 1 ]]; then
    docker image prune -af --filter "until=168h" >/dev/null
    docker builder prune -af --filter "until=168h" >/dev/null
  fi
fi
if [[ $CRICTL -eq 1 ]] && command -v crictl >/dev/null; then
  unused=$(comm -23 \
    <(crictl images -q 2>/dev/null | sed 's/^sha256://' | sort -u) \
    <(crictl ps -a -o json 2>/dev/null | jq -r '.containers[].imageRef' | sed 's/^sha256://' | sort -u) | wc -l)
  echo "  containerd: $unused image(s) not referenced by any container"
  if [[ $APPLY -eq 1 ]]; then crictl rmi --prune >/dev/null; fi
fi

echo
echo "estimated reclaimable (excluding container images): $(human "$TOTAL_EST")"
if [[ $APPLY -eq 1 ]]; then
  end=$(avail)
  echo "available after: $(human "$end") (freed $(human $(( end > start ? end - start : 0 ))))"
  df -h / /var 2>/dev/null | awk '!seen[$0]++'
else
  echo "nothing was deleted. Re-run with --apply."
fi
