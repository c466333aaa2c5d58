#!/usr/bin/env bash
# bench/rename.sh — a folder of big files renamed in a watched source: how long
# `copyd run --delete` takes until the destination has it under the new name
# (and no more under the old one), against copying the same folder afresh,
# which is what a copier without memory of what it wrote has to do.
#
#   bash bench/rename.sh            about 3 min: 2 GiB of videos, ROUNDS=5
#
# Env:
#   ROUNDS=5             renames per daemon (the folder goes v0 -> v1 -> v2 ...)
#   VIDEOS_COUNT=14      files of 50-200 MiB from the shared generator (14: ~2 GiB)
#   COPYD_BIN=…          copyd to test (default: `go build ./cmd/copyd` into BENCH_DIR/bin)
#   COPYD_OLD_BIN=…      an older copyd, timed the same way in the same run
#   FSYNC=false          --fsync for every copyd run and sync
#   BENCH_DIR=/var/tmp/copyd-bench   data set (src/), copies (work/), results (results/)
#   COPYD_SHARED_BENCH=<repo>/../shared/bench   where gen-dataset.sh lives
#
# Each rename is timed from just before `mv` to the moment the destination
# holds every file under the new name with its full size (copyd only ever
# names complete files) and the old name is gone; afterwards, outside the
# timing, every file is compared byte by byte with its source. The full-copy
# reference is `copyd sync` (and `cp -a`) of the folder into an empty
# destination on the same filesystem, ROUNDS times each.
# Output: BENCH_DIR/results/<timestamp>-rename/{rename.tsv,report.md,run.log}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-5}
FSYNC=${FSYNC:-false}
export VIDEOS_COUNT=${VIDEOS_COUNT:-14}
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 3 ] || die "ROUNDS=$ROUNDS: need a whole number >= 3"
[ -z "${COPYD_OLD_BIN:-}" ] || [ -x "$COPYD_OLD_BIN" ] || die "COPYD_OLD_BIN=$COPYD_OLD_BIN is not an executable"
need_tools cp cmp find stat
need_shared gen-dataset.sh generator

start_run -rename
tsv=$res/rename.tsv
printf 'id\tround\tms\n' >"$tsv"
build_copyd '; fix the build or set COPYD_BIN=/path/to/copyd'

data=$base/src/rename-videos$VIDEOS_COUNT
if [ ! -d "$data" ]; then
  note "generating $VIDEOS_COUNT videos into $data (once; later runs reuse it)"
  "$shared/gen-dataset.sh" videos "$data.partial" >&2
  mv "$data.partial" "$data"
fi
bytes=$(du -sb "$data" | cut -f1)
files=$(find "$data" -type f | wc -l)
note "data: $files files, $((bytes >> 20)) MiB"
mapfile -t names < <(cd "$data" && find . -type f -printf '%P\n' | sort)


now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# arrived DST: every file of the data set is in DST with its size.
arrived() {
  local n
  for n in "${names[@]}"; do
    [ -f "$1/$n" ] && [ "$(stat -c %s "$1/$n")" = "$(stat -c %s "$data/$n")" ] || return 1
  done
}

# same DIR: DIR's files equal the data set's, byte by byte.
same() {
  local n
  for n in "${names[@]}"; do cmp -s "$data/$n" "$1/$n" || die "$1/$n differs from its source"; done
  [ "$(find "$1" -type f | wc -l)" = "$files" ] || die "$1 has other files than the data set"
}

# daemon ID BIN: copyd run on a copy of the data set, then ROUNDS renames.
daemon() {
  local id=$1 bin=$2 w=$work/$1
  mkdir -p "$w/src/lib" "$w/state"
  cp -a "$data" "$w/src/lib/v0"
  XDG_STATE_HOME=$w/state "$bin" run --delete --fsync="$FSYNC" "$w/src" "$w/dst" 2>"$res/logs/$id.log" &
  local pid=$!
  local t=0
  until arrived "$w/dst/lib/v0"; do
    sleep 0.05
    t=$((t + 1))
    [ $t -lt 2400 ] || die "$id: no initial copy after 120 s (see $res/logs/$id.log)"
  done
  sleep 1 # the pass ends and the watches are all set
  local r
  for ((r = 1; r <= ROUNDS; r++)); do
    local from=$w/src/lib/v$((r - 1)) to=$w/src/lib/v$r
    local t0 t1 polls=0
    t0=$(now_ms)
    mv "$from" "$to"
    until [ ! -e "$w/dst/lib/v$((r - 1))" ] && arrived "$w/dst/lib/v$r"; do
      sleep 0.005
      polls=$((polls + 1))
      [ $polls -lt 24000 ] || die "$id: round $r did not converge within 2 min (see $res/logs/$id.log)"
    done
    t1=$(now_ms)
    printf '%s\t%s\t%s\n' "$id" "$r" $((t1 - t0)) >>"$tsv"
    note "$id round $r: rename arrived in $((t1 - t0)) ms"
    same "$w/dst/lib/v$r"
    sleep 1
  done
  kill -TERM $pid
  wait $pid || true
  rm -rf "$w"
}

# fullcopy ID CMD...: CMD copies the folder into an empty destination.
fullcopy() {
  local id=$1 r
  shift
  for ((r = 1; r <= ROUNDS; r++)); do
    local d=$work/full-$id-$r t0 t1
    sync
    t0=$(now_ms)
    XDG_STATE_HOME=$work/state-$id-$r "$@" "$data" "$d" >/dev/null 2>>"$res/logs/$id.log"
    t1=$(now_ms)
    printf '%s\t%s\t%s\n' "$id" "$r" $((t1 - t0)) >>"$tsv"
    note "$id round $r: $((t1 - t0)) ms"
    same "$d"
    rm -rf "$d" "$work/state-$id-$r"
  done
}

daemon copyd-rename "$COPYD_BIN"
[ -z "${COPYD_OLD_BIN:-}" ] || daemon copyd-old-rename "$COPYD_OLD_BIN"
fullcopy copyd-sync "$COPYD_BIN" sync --fsync="$FSYNC" --progress never
fullcopy cp cp -a
rm -rf "$work"

{
  echo "Run $(date -u '+%Y-%m-%d %H:%M') UTC with \`bash bench/rename.sh\` (ROUNDS=$ROUNDS, --fsync=$FSYNC): a folder of $files videos ($((bytes >> 20)) MiB) renamed in the source of \`copyd run --delete\`, against a full copy of it."
  echo
  echo "| what | median ms | min–max ms |"
  echo "| --- | ---: | ---: |"
  for id in copyd-rename copyd-old-rename copyd-sync cp; do
    vals=$(awk -F'\t' -v id="$id" '$1 == id { print $3 }' "$tsv" | sort -n)
    [ -n "$vals" ] || continue
    n=$(wc -l <<<"$vals")
    med=$(sed -n "$(((n + 1) / 2))p" <<<"$vals")
    printf '| %s | %s | %s–%s |\n' "$id" "$med" "$(head -1 <<<"$vals")" "$(tail -1 <<<"$vals")"
  done
} >"$res/report.md"
cat "$res/report.md"
