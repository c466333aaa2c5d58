#!/usr/bin/env bash
# bench/watch.sh — copyd's watcher alone, this build against an older one,
# on the same tree in the same run: time to watch 100,000 folders (1M
# files), watches, memory, and how fast a burst of new files is reported.
#
#   bash bench/watch.sh            about 5 min: ROUNDS=5, the 1M-file tree
#
# Env:
#   ROUNDS=5             runs of each build, interleaved
#   OLD_REV=99809fc      the older build (default: the last fsnotify watcher on Linux)
#   DIRS=100000 FILES=10 the tree (livebench tree), made once under BENCH_DIR/src
#   BURST=100000         files created in the burst, over 1,000 new folders
#   BENCH_DIR=/var/tmp/copyd-bench
# The tree needs DIRS+1,001 inotify watches per process
# (fs.inotify.max_user_watches). Output: BENCH_DIR/results/<timestamp>-watch/
# {watch.tsv,run.log}, and medians with min-max on stdout.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-5}
OLD_REV=${OLD_REV:-99809fc}
DIRS=${DIRS:-100000}
FILES=${FILES:-10}
BURST=${BURST:-100000}
need_tools git go awk

start_run -watch
tree=$base/src/watch-tree-$DIRS-$FILES
if [ ! -d "$tree" ]; then
  note "making $DIRS folders x $FILES files in $tree (once)"
  (cd "$repo" && go run ./bench/livebench tree -dir "$tree.partial" -dirs "$DIRS" -files "$FILES") || die "cannot make the tree"
  mv "$tree.partial" "$tree"
fi
note "building watchbench at HEAD and at $OLD_REV"
(cd "$repo" && go build -o "$base/bin/watchbench-new" ./bench/watchbench) || die "cannot build watchbench"
old=$work/old
git -C "$repo" worktree add -f -q "$old" "$OLD_REV" || die "cannot check out $OLD_REV"
mkdir -p "$old/bench/watchbench" && cp "$repo/bench/watchbench/main.go" "$old/bench/watchbench/"
(cd "$old" && go build -o "$base/bin/watchbench-old" ./bench/watchbench) || die "cannot build watchbench at $OLD_REV"
git -C "$repo" worktree remove --force "$old"

tsv=$res/watch.tsv
printf 'build\tround\tstart_s\twatches\trss_mib\theap_mib\tevents\tcreate_s\tlag_ms\tcpu_s\tevents_per_s\trescans\thwm_mib\n' >"$tsv"
trash=$work/trash # bursts are moved here, not removed: removing 100,000 files slows the next creates
mkdir -p "$trash"
for round in $(seq 1 "$ROUNDS"); do
  for b in old new; do
    out=$("$base/bin/watchbench-$b" -dir "$tree" -n "$BURST" -trash "$trash") || die "watchbench-$b failed: $out"
    note "$b round $round: $(echo $out)"
    echo "$out" | tr ' \n' '\n\n' | awk -F= -v b="$b" -v r="$round" '
      NF == 2 { v[$1] = $2 }
      END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b, r, v["start_s"], v["watches"], v["rss_mib"], v["heap_mib"], v["events"], v["create_s"], v["lag_ms"], v["cpu_s"], v["events_per_s"], v["rescans"], v["hwm_mib"] }' >>"$tsv"
  done
done
# shellcheck disable=SC2016
awk -F'\t' "$(cat "$here/lib.awk")"'
  NR == 1 { for (i = 3; i <= NF; i++) col[i] = $i; next }
  { for (i = 3; i <= NF; i++) vals[$1, i] = vals[$1, i] " " $i }
  END {
    printf "| metric | old (%s) | new | new/old |\n|---|---|---|---|\n", OLD
    for (i = 3; i <= 13; i++) {
      o = median(vals["old", i]); olo = LO; ohi = HI
      n = median(vals["new", i]); nlo = LO; nhi = HI
      printf "| %s | %s [%s-%s] | %s [%s-%s] | %s |\n", col[i], o, olo, ohi, n, nlo, nhi, (o > 0 ? sprintf("%.2f", n / o) : "-")
    }
  }' OLD="$OLD_REV" "$tsv" | tee "$res/report.md"
note "removing the bursts"
rm -rf "$trash"
