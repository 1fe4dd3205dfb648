#!/usr/bin/env bash
# List (and optionally truncate) deleted files that processes still hold open.
# Usage:
#   sudo release-deleted-files.sh                   list holders, biggest first
#   sudo release-deleted-files.sh --truncate PID FD truncate one descriptor to 0 bytes
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }
human() { numfmt --to=iec --suffix=B "$1"; }

unit_of() {
  # systemd unit owning a PID, from its cgroup path
  local cg
  cg=$(cat "/proc/$1/cgroup" 2>/dev/null | awk -F: '{print $3}' | head -1)
  grep -oE '[^/]+\.(service|scope)' <<<"$cg" | tail -1 || echo "-"
}

if [[ "${1:-}" == "--truncate" ]]; then
  pid="${2:?PID required}"; fd="${3:?FD required}"
  path="/proc/$pid/fd/$fd"
  target=$(readlink "$path") || { echo "no such descriptor $path" >&2; exit 1; }
  [[ "$target" == *"(deleted)" ]] || { echo "refusing: $target is not a deleted file" >&2; exit 1; }
  case "$target" in
    *pg_wal*|*/postgresql/*|*/mysql/*|*/elasticsearch/*|*.db*|*/etcd/*)
      echo "refusing: $target looks like database storage; restart the service instead" >&2; exit 1 ;;
  esac
  size=$(stat -L -c %s "$path")
  echo "truncating $target (pid $pid, fd $fd, $(human "$size"))"
  : >"$path"
  echo "done; freed $(human "$size"). Fix log rotation so the process reopens its files (SIGHUP / copytruncate)."
  exit 0
fi

printf '%-9s %-8s %-4s %-18s %-28s %s\n' SIZE PID FD COMMAND UNIT FILE
total=0
rows=""
while read -r fdpath; do
  pid=$(cut -d/ -f3 <<<"$fdpath"); fd=$(cut -d/ -f5 <<<"$fdpath")
  size=$(stat -L -c %s "$fdpath" 2>/dev/null || echo 0)
  (( size > 0 )) || continue
  total=$((total + size))
  rows+=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$size" "$pid" "$fd" "$(cat "/proc/$pid/comm" 2>/dev/null)" "$(unit_of "$pid")" "$(readlink "$fdpath")")$'\n'
done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname '*(deleted)' 2>/dev/null)

if [[ -z "$rows" ]]; then
  echo "no deleted-but-open files found"
  exit 0
fi

printf '%s' "$rows" | sort -rn | head -30 | while IFS=$'\t' read -r size pid fd comm unit file; do
  printf '%-9s %-8s %-4s %-18s %-28s %s\n' "$(human "$size")" "$pid" "$fd" "$comm" "$unit" "$file"
done || true
echo
echo "total held by deleted files: $(human "$total")"
echo "fix: systemctl restart <UNIT>  (preferred)  |  $0 --truncate PID FD  (log files only)"
