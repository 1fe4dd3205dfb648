#!/usr/bin/env bash
# Find what is using a filesystem. Read-only: deletes nothing.
# Usage: sudo disk-triage.sh [MOUNTPOINT]   (default /)
set -euo pipefail

MNT="${1:-/}"
[[ -d "$MNT" ]] || { echo "not a directory: $MNT" >&2; exit 2; }
[[ $EUID -eq 0 ]] || echo "warning: not root; sizes will be incomplete" >&2

hr() { printf '\n== %s\n' "$*"; }
human() { numfmt --to=iec --suffix=B --padding=8; }

hr "filesystems (block usage)"
df -hT -x tmpfs -x devtmpfs -x squashfs -x overlay

hr "filesystems (inode usage)"
df -hi -x tmpfs -x devtmpfs -x squashfs -x overlay

REAL_MNT=$(df --output=target "$MNT" | tail -1)
hr "mount under investigation: $REAL_MNT"
df -h "$REAL_MNT"

hr "largest directories on $REAL_MNT (2 levels, same filesystem)"
du -xh --max-depth=2 "$REAL_MNT" 2>/dev/null | sort -rh | head -20 || true

hr "files over 100 MB on $REAL_MNT"
find "$REAL_MNT" -xdev -type f -size +100M -printf '%s\t%TY-%Tm-%Td %TH:%TM\t%p\n' 2>/dev/null \
  | sort -rn | head -20 \
  | while IFS=$'\t' read -r size mtime path; do
      printf '%s  %s  %s\n' "$(echo "$size" | human)" "$mtime" "$path"
    done || true

hr "deleted files still held open (space not freed until the process closes them)"
deleted=$( { find /proc/[0-9]*/fd -maxdepth 1 -lname '*(deleted)' 2>/dev/null || true; } | while read -r fd; do
  size=$(stat -L -c %s "$fd" 2>/dev/null || echo 0)
  (( size > 0 )) || continue
  pid=$(cut -d/ -f3 <<<"$fd")
  printf '%s\t%s\t%s\t%s\n' "$size" "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)" "$(readlink "$fd")"
done | sort -rn | head -15 || true)
if [[ -z "$deleted" ]]; then
  echo "none"
else
  while IFS=$'\t' read -r size pid comm target; do
    printf '%s  pid=%-7s %-16s %s\n' "$(echo "$size" | human)" "$pid" "$comm" "$target"
  done <<<"$deleted"
  echo "-> scripts/release-deleted-files.sh shows the owning systemd unit"
fi

hr "inode-heavy directories (if inode usage is the problem)"
ipct=$(df --output=ipcent "$REAL_MNT" | tail -1 | tr -dc '0-9')
if [[ -n "$ipct" && "$ipct" -ge 80 ]]; then
  du --inodes -x --max-depth=3 "$REAL_MNT" 2>/dev/null | sort -rn | head -15 || true
else
  echo "inode usage ${ipct:-?}% - skipped"
fi

hr "journald"
journalctl --disk-usage 2>/dev/null || echo "journalctl not available"

hr "package caches"
for d in /var/cache/apt/archives /var/cache/dnf /var/cache/yum; do
  [[ -d "$d" ]] && du -sh "$d" 2>/dev/null
done
true

hr "core dumps"
du -sh /var/lib/systemd/coredump /var/crash 2>/dev/null || true

if command -v docker >/dev/null 2>&1; then
  hr "docker"
  docker system df 2>/dev/null || echo "docker daemon not reachable"
fi
if command -v crictl >/dev/null 2>&1; then
  hr "containerd images (crictl)"
  crictl imagefsinfo 2>/dev/null | grep -E '"(used|inodesUsed)Bytes"|usedBytes|inodesUsed' || true
fi

hr "top writers right now (5 s sample)"
if command -v pidstat >/dev/null 2>&1; then
  pidstat -d 5 1 | awk 'NR>3 && $5+0 > 1024' | sort -k5 -rn | head -10 || true
  echo "(columns: time UID PID kB_rd/s kB_wr/s kB_ccwr/s iodelay Command; only writers > 1 MB/s shown)"
else
  echo "install sysstat for pidstat, or run: iotop -oPa -d 5"
fi
