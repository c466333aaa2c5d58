# bench/lib.sh — what bench/run.sh and bench/live.sh share: strict mode and
# locale, paths, messages, the run's folders and log, the copyd build, the
# machine facts for the report, and the ext4 cool-down and page-cache helpers.
# Sourced by them, never run. Functions that record call the script's own
# `meta KEY VALUE`.
# shellcheck shell=bash disable=SC2034 # the variables set here are used by the scripts that source it
set -euo pipefail
export LC_ALL=C.UTF-8 LC_NUMERIC=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=${COPYD_SHARED_BENCH:-$repo/../shared/bench}
BENCH_DIR=${BENCH_DIR:-/var/tmp/copyd-bench}
base=$BENCH_DIR # QUICK=1: BENCH_DIR/quick, so tiny data sets never replace full ones
if [ "${QUICK:-0}" = 1 ]; then base=$BENCH_DIR/quick; fi

die() { printf '\n*** %s: FAIL: %s\n' "${0##*/}" "$*" >&2; exit 1; }
note() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; } # the script's header comment

need_tools() { # TOOL...
  local t
  for t; do command -v "$t" >/dev/null || die "needs $t"; done
}
# need_shared PATH WHAT: shared/PATH, a program or a folder, must be there; makes $shared absolute.
need_shared() {
  [ -x "$shared/$1" ] || die "no $2 at $shared/$1 (set COPYD_SHARED_BENCH)"
  shared=$(cd "$shared" && pwd)
}

# start_run SUFFIX: makes BENCH_DIR's folders and this run's res and work
# (named by the time, plus SUFFIX), copies all output to res/run.log and
# starts the clock (started).
start_run() {
  mkdir -p "$base/src" "$base/bin" "$base/results" "$base/work"
  base=$(cd "$base" && pwd)
  ts=$(date +%Y%m%d-%H%M%S)
  res=$base/results/$ts$1
  work=$base/work/$ts$1
  mkdir -p "$res/logs" "$work"
  # copyd's indexes (one per destination) live with the copies, not in
  # the user's state folder, and go with them.
  export XDG_STATE_HOME=$work/.state
  unset STATE_DIRECTORY
  exec > >(tee -a "$res/run.log") 2>&1
  started=$SECONDS
  note "results: $res"
}

# build_copyd HINT: sets COPYD_BIN to an absolute path: the given one, or
# ./cmd/copyd built into BENCH_DIR/bin. A failed build dies with HINT appended.
build_copyd() {
  if [ -z "${COPYD_BIN:-}" ]; then
    COPYD_BIN=$base/bin/copyd
    note "building ./cmd/copyd -> $COPYD_BIN"
    (cd "$repo" && go build -o "$COPYD_BIN" ./cmd/copyd) || die "cannot build ./cmd/copyd$1"
  fi
  [ -x "$COPYD_BIN" ] || die "COPYD_BIN=$COPYD_BIN is not an executable"
  COPYD_BIN=$(realpath "$COPYD_BIN")
}

meta_machine() {
  meta nproc "$(nproc)"
  meta cpu "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
  meta ram "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  meta kernel "$(uname -sr)"
  meta bench_dir "$base"
}
meta_git() {
  if git -C "$repo" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    meta git_commit "$(git -C "$repo" rev-parse --short=12 HEAD)"
  else
    meta git_commit "(no commit yet)"
  fi
  meta git_dirty "$([ -n "$(git -C "$repo" status --porcelain 2>/dev/null | head -n 1)" ] && echo yes || echo no)"
}
# `stat -f -c %T` says ext2/ext3 for ext4: ask findmnt first.
fs_type() { findmnt -no FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1"; } # DIR
fs_of() { # DIR -> "ext4 on /dev/vda (rw,relatime,discard)"
  printf '%s on %s (%s)' "$(fs_type "$1")" "$(findmnt -no SOURCE -T "$1" 2>/dev/null)" "$(findmnt -no OPTIONS -T "$1" 2>/dev/null | cut -d, -f1-3)"
}
journal_of() { # DIR -> "journal" or "no journal" on ext4; nothing when not known
  local dev
  [ "$(fs_type "$1")" = ext4 ] || return 0
  dev=$(basename "$(findmnt -no SOURCE -T "$1")")
  [ -r "/sys/fs/ext4/$dev/journal_task" ] || return 0
  if [ "$(cat "/sys/fs/ext4/$dev/journal_task")" = "<none>" ]; then echo "no journal"; else echo journal; fi
}

# report SCRIPT TSV: records the end of the run, then prints SCRIPT's Markdown
# report of TSV and saves it as res/report.md.
report() {
  meta loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
  meta duration_s "$((SECONDS - started))"
  note "done in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s"
  echo
  bash "$here/$1" "$2" | tee "$res/report.md"
  echo
}

# ext4 without a journal does not reuse an inode freed < ~60 s ago and searches
# past it: after deleting many files, wait before timing anything. The time of
# the last mass deletion is kept in BENCH_DIR/.last-rm, so that it holds across
# runs of both scripts.
stamp=$BENCH_DIR/.last-rm
remove_tree() { # DIR...; only deleting many entries starts the cool-down
  local many
  many=$(set +o pipefail; find "$@" 2>/dev/null | head -n 10001 | wc -l) # find gets SIGPIPE: fine
  note "removing $* (untimed)"
  rm -rf "$@"
  [ "$many" -le 10000 ] || date +%s >"$stamp"
}
cooldown() { # waits out COOLDOWN seconds after the last mass deletion
  local last=0 left
  if [ -f "$stamp" ]; then last=$(cat "$stamp"); fi
  left=$((last + COOLDOWN - $(date +%s)))
  if [ "$left" -gt 0 ]; then note "cool-down ${left}s after a mass deletion (ext4 without journal: fresh inodes only after ~60 s)"; sleep "$left"; fi
}
# Write back and drop the page cache (as root; DROP_CACHES=0 keeps it).
drop_caches() {
  sync
  if [ "${DROP_CACHES:-1}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
