#!/usr/bin/env bash
# bench/run.sh — copyd's benchmark: `copyd sync` against `cp -a` and `rsync -a`,
# timed side by side in one run. See bench/README.md.
#
#   bash bench/run.sh [KIND...]          KIND: videos small mixed (default: all three)
#   QUICK=1 bash bench/run.sh            tiny data sets, ROUNDS=3: to try the harness itself
#
# Env:
#   ROUNDS=5            timed rounds per command (minimum 3)
#   WARMUP=1            untimed warm-up rounds before them (all commands; not in the report)
#   BENCH_DIR=/var/tmp/copyd-bench   data sets (src/), copies (work/), results (results/)
#   COPYD_BIN=…         copyd binary to test (default: `go build ./cmd/copyd` into BENCH_DIR/bin)
#   QUICK=1             tiny data sets in BENCH_DIR/quick, ROUNDS=3, no cool-down
#   COMMANDS="cp rsync copyd copyd-fsync"   subset to run (e.g. COMMANDS="cp rsync": peers only);
#                       add copyd-old (with COPYD_OLD_BIN=…) to time an older build in the same run
#   COPYD_OLD_BIN=…     the older copyd binary that copyd-old runs (same flags as copyd)
#   COPYD_FLAGS=""      extra flags for every copyd run, e.g. "--workers 8"
#   COOLDOWN=65         seconds between deleting many files and the next timed run (ext4 trap)
#   VERIFY_DIR_MTIMES=1 set 0 to accept copies whose folder and symlink mtimes differ
#   GENERATE_ONLY=1     only generate the data sets (if missing) and stop
#   COPYD_SHARED_BENCH=<repo>/../shared/bench   where gen-dataset.sh lives
#   SEED and the generator's size knobs (VIDEOS_*, SMALL_*, MIXED_*) are passed through.
#
# Output: BENCH_DIR/results/<timestamp>/{results.tsv,meta.tsv,datasets.tsv,report.md,run.log,logs/}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- settings
all_kinds=(videos small mixed)
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=("${all_kinds[@]}")
for k in "${kinds[@]}"; do
  case $k in videos | small | mixed) ;; -h | --help) usage; exit 0 ;;
  *) die "unknown data set '$k' (videos small mixed)" ;; esac
done

if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-3}
  COOLDOWN=${COOLDOWN:-0}
  export VIDEOS_COUNT=${VIDEOS_COUNT:-3} VIDEOS_KB=${VIDEOS_KB:-64}
  export SMALL_FILES=${SMALL_FILES:-500} SMALL_FANOUT=${SMALL_FANOUT:-3}
  export MIXED_FILES=${MIXED_FILES:-300} MIXED_DIRS=${MIXED_DIRS:-40} MIXED_BIG=${MIXED_BIG:-1} \
    MIXED_BIG_MB=${MIXED_BIG_MB:-2} MIXED_SYMLINKS=${MIXED_SYMLINKS:-20}
fi
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
COOLDOWN=${COOLDOWN:-65}
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt 3 ]; then die "ROUNDS=$ROUNDS: need a whole number >= 3 (medians of fewer runs mean little)"; fi
[[ $COOLDOWN =~ ^[0-9]+$ ]] || die "COOLDOWN=$COOLDOWN: need whole seconds"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP=$WARMUP: need a whole number of rounds"

read -ra ids <<<"${COMMANDS:-cp rsync copyd copyd-fsync}"
need_copyd=0
for id in "${ids[@]}"; do
  case $id in cp | rsync) ;; copyd | copyd-fsync) need_copyd=1 ;;
  copyd-old) [ -x "${COPYD_OLD_BIN:-}" ] || die "COMMANDS has copyd-old: set COPYD_OLD_BIN to an executable copyd" ;;
  *) die "COMMANDS: unknown '$id' (cp rsync copyd copyd-fsync copyd-old)" ;; esac
done
[ ${#ids[@]} -gt 0 ] || die "COMMANDS is empty"
[ "${GENERATE_ONLY:-0}" = 1 ] && need_copyd=0
noop_ids=()
[[ " ${ids[*]} " == *" rsync "* ]] && noop_ids+=(rsync-noop)
[ $need_copyd = 1 ] && noop_ids+=(copyd-noop)
[[ " ${ids[*]} " == *" copyd-old "* ]] && noop_ids+=(copyd-old-noop)
read -ra copyd_flags <<<"${COPYD_FLAGS:-}"
omit_dir_times="" omit_link_times=""
[ "${VERIFY_DIR_MTIMES:-1}" = 0 ] && omit_dir_times=--omit-dir-times omit_link_times=--omit-link-times

# ---------------------------------------------------------------- tools
missing=()
command -v rsync >/dev/null || missing+=(rsync)
[ -x /usr/bin/time ] || missing+=(time)
[ ${#missing[@]} = 0 ] || die "missing ${missing[*]}: install with  apt-get install -y rsync time"
need_tools cp diff tar find du df sha256sum
need_shared gen-dataset.sh generator

start_run ""
if [ $need_copyd = 1 ]; then
  build_copyd '; fix the build or set COPYD_BIN=/path/to/copyd (or COMMANDS="cp rsync" for peers only)'
fi

on_exit() {
  local st=$?
  [ "$st" = 0 ] || printf '\n*** run.sh stopped (exit %s). Copies left for inspection in %s (rm -rf it when done); partial results in %s\n' "$st" "$work" "$res" >&2
}
trap on_exit EXIT

# ---------------------------------------------------------------- meta data
meta() { printf '%s\t%s\n' "$1" "$2" >>"$res/meta.tsv"; }
: >"$res/meta.tsv"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "$( [ "${QUICK:-0}" = 1 ] && printf 'QUICK=1 ')bash bench/run.sh ${kinds[*]}"
meta rounds "$ROUNDS"
meta warmup "$WARMUP"
meta quick "${QUICK:-0}"
meta_machine
meta fs "$(fs_of "$base")"
meta journal "$(journal_of "$base")"
meta_git
meta go "$(go version 2>/dev/null | awk '{ print $3 }')"
meta cp_version "$(cp --version | head -n 1)"
meta rsync_version "$(rsync --version | head -n 1 | awk '{ print $1, $3 }')"
meta commands "${ids[*]}"
meta copyd_bin "${COPYD_BIN:-}"
meta copyd_sha256 "$( [ -n "${COPYD_BIN:-}" ] && sha256sum "$COPYD_BIN" | cut -c1-16)"
meta copyd_flags "${COPYD_FLAGS:-}"
meta copyd_old_bin "${COPYD_OLD_BIN:-}"
meta verify_dir_mtimes "${VERIFY_DIR_MTIMES:-1}"
meta loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"

printf 'kind\tfiles\tdirs\tsymlinks\tbytes\tdisk_bytes\n' >"$res/datasets.tsv"
printf 'kind\tphase\tcmd\tround\tpos\twall_s\tuser_s\tsys_s\tmaxrss_kib\texit\tverify\tload1\tlabel\n' >"$res/results.tsv"

# ---------------------------------------------------------------- helpers
# Warm the page cache (data and metadata). NB `tar -cf - . >/dev/null` reads no
# file data: GNU tar notices the archive is /dev/null and skips it. Pipe through cat.
# This VM pages out file pages not used for ~60 s (DAMON), so warm before every run.
#
# Before every timed run: write back and drop the page cache (drop_caches: as
# root; DROP_CACHES=0 keeps it), then warm the source. Every command then starts
# from the same memory state. Without this the copies kept for later
# rounds fill the page cache, and whoever runs later pays for reclaiming it
# (a 0.9 s copy of "mixed" took 5 s in round 3, its dirty pages the worst).
warm() { tar -cf - -C "$1" . | cat >/dev/null; }

gen_params() { # KIND: the settings that fix the data set (empty value = generator default)
  local kind=$1 v vars
  case $kind in
  videos) vars="VIDEOS_COUNT VIDEOS_MIN_MB VIDEOS_MAX_MB VIDEOS_KB" ;;
  small) vars="SMALL_FILES SMALL_FANOUT SMALL_MIN_KB SMALL_MAX_KB" ;;
  mixed) vars="MIXED_FILES MIXED_DIRS MIXED_MAXDEPTH MIXED_MEDIAN_KB MIXED_SIGMA MIXED_CAP_MB MIXED_BIG MIXED_BIG_MB MIXED_SYMLINKS" ;;
  esac
  echo "kind=$kind"
  echo "SEED=${SEED:-}"
  for v in $vars; do echo "$v=${!v:-}"; done
  echo "gendata_sha256=$(sha256sum "$shared/cmd/gendata/main.go" | cut -d' ' -f1)"
}

ensure_dataset() { # KIND -> BENCH_DIR/src/KIND, generated once, reused while its params match
  local kind=$1 dir=$base/src/$1 marker=$base/src/$1.params want tmp summary
  want=$(gen_params "$kind")
  if [ -d "$dir" ] && [ -f "$marker" ] && [ "$(grep -v '^summary=' "$marker")" = "$want" ]; then
    note "$kind: reusing $dir"
    return
  fi
  if [ -e "$dir" ] || [ -e "$marker" ]; then
    note "$kind: $dir is incomplete or was made with other settings; regenerating"
    remove_tree "$dir" "$marker"
  fi
  tmp=$base/src/.$kind.partial
  rm -rf "$tmp"
  note "$kind: generating into $dir (once; later runs reuse it)"
  summary=$(PERF_BIN=$base/bin "$shared/gen-dataset.sh" "$kind" "$tmp") || die "generator failed for $kind"
  mv "$tmp" "$dir"
  { echo "$want"; echo "summary=$summary"; } >"$marker"
  note "$kind: $summary"
  sync
}

argv_for() { # ID SRC DST -> argv
  local id=$1 s=$2 d=$3
  case $id in
  cp) argv=(cp -a "$s/." "$d") ;;
  rsync | rsync-noop) argv=(rsync -a "$s/" "$d/") ;;
  copyd | copyd-noop) argv=("$COPYD_BIN" sync --fsync=false --progress never "${copyd_flags[@]}" "$s" "$d") ;;
  copyd-fsync) argv=("$COPYD_BIN" sync --fsync=true --progress never "${copyd_flags[@]}" "$s" "$d") ;;
  copyd-old | copyd-old-noop) argv=("$COPYD_OLD_BIN" sync --fsync=false --progress never "${copyd_flags[@]}" "$s" "$d") ;;
  esac
}
label_for() {
  local extra=${COPYD_FLAGS:+ $COPYD_FLAGS}
  case $1 in
  cp) echo "cp -a" ;;
  rsync | rsync-noop) echo "rsync -a" ;;
  copyd | copyd-noop) echo "copyd sync --fsync=false$extra" ;;
  copyd-fsync) echo "copyd sync --fsync=true$extra" ;;
  copyd-old | copyd-old-noop) echo "copyd sync --fsync=false$extra (COPYD_OLD_BIN)" ;;
  esac
}

# timed KIND PHASE ID ROUND -- CMD...: sync (untimed), then run CMD under /usr/bin/time.
# Sets wall user sys rss rc load log.
timed() {
  local kind=$1 phase=$2 id=$3 round=$4 t0 t1 us
  shift 5
  log=$res/logs/$kind.$phase.$id.r$round.log
  sync # nobody pays for the previous run's write-back
  load=$(cut -d' ' -f1 /proc/loadavg)
  rc=0
  t0=${EPOCHREALTIME/./}
  /usr/bin/time -f '%e %U %S %M' -o "$res/logs/.time" -- "$@" >"$log" 2>&1 || rc=$?
  t1=${EPOCHREALTIME/./}
  us=$((t1 - t0))
  wall=$(printf '%d.%03d' $((us / 1000000)) $(((us % 1000000) / 1000)))
  read -r _ user sys rss < <(tail -n 1 "$res/logs/.time")
}
row() { # KIND PHASE ID ROUND POS VERIFY
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
    "$wall" "$user" "$sys" "$rss" "$rc" "$6" "$load" "$(label_for "$3")" >>"$res/results.tsv"
  printf '  %-6s %-5s r%-2s %-32s %8ss  user %6s  sys %6s  rss %7s KiB  exit %s  %s\n' \
    "$1" "$2" "$4" "$(label_for "$3")" "$wall" "$user" "$sys" "$rss" "$rc" "$6"
}
check_exit() { # ID
  [ "$rc" = 0 ] && return
  tail -n 20 "$log" >&2
  die "$(label_for "$1") exited $rc (output above, full log $log)"
}

# verify SRC DST: the copy must equal the source — contents and symlink targets
# (diff -r --no-dereference), and what rsync -a would change: sizes, mtimes,
# modes, owners, symlinks, extra or missing entries (dry run, must list nothing).
verify() {
  local s=$1 d=$2 out
  out=$(rsync -an --delete --itemize-changes ${omit_dir_times:+"$omit_dir_times" "$omit_link_times"} "$s/" "$d/" 2>&1 | head -n 20) || true
  if [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    die "copy $d differs from $s (rsync -an --delete -i lists the items above)"
  fi
  if ! diff -r --no-dereference "$s" "$d" >"$res/logs/.diff" 2>&1; then
    head -n 20 "$res/logs/.diff" >&2
    die "copy $d differs from $s in content (diff -r --no-dereference, above)"
  fi
}
listing() { find "$1" -printf '%p\t%y\t%i\t%s\t%T@\t%m\t%l\n' | sort; }
listing_c() { find "$1" -printf '%p\t%C@\n' | sort; }

have() { local x; for x in "${@:2}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

# ---------------------------------------------------------------- data sets
for kind in "${kinds[@]}"; do ensure_dataset "$kind"; done
if [ "${GENERATE_ONLY:-0}" = 1 ]; then
  note "GENERATE_ONLY=1: data sets ready in $base/src"
  rm -rf "$res" "$work"
  trap - EXIT
  exit 0
fi
for kind in "${kinds[@]}"; do
  dir=$base/src/$kind
  read -r nf nd nl nb < <(find "$dir" -mindepth 1 -printf '%y %s\n' |
    awk '$1 == "f" { f++; b += $2 } $1 == "d" { d++ } $1 == "l" { l++ } END { printf "%d %d %d %.0f\n", f, d, l, b }')
  du_b=$(du -sB1 "$dir" | cut -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$nf" "$nd" "$nl" "$nb" "$du_b" >>"$res/datasets.tsv"
done

meta prepare_s "$((SECONDS - started))"

# ---------------------------------------------------------------- timing
n=${#ids[@]}
nk=${#kinds[@]}
for ((ki = 0; ki < nk; ki++)); do
  kind=${kinds[$ki]}
  src=$base/src/$kind
  dsts=$work/$kind
  mkdir -p "$dsts"
  read -r nf nd nl du_b < <(awk -F'\t' -v k="$kind" '$1 == k { print $2, $3, $4, $6 }' "$res/datasets.tsv")

  # Every run writes a new copy and none is deleted before the last round: check room.
  # If that does not fit, the warm-up copies go right after the warm-up round.
  copies=$((n * (ROUNDS + WARMUP) + ${#noop_ids[@]}))
  need=$((du_b * 105 * copies / 100 + (1 << 30)))
  avail=$(df --output=avail -B1 "$dsts" | tail -n 1)
  drop_warmup=0
  if [ "$avail" -le "$need" ] && [ "$WARMUP" -gt 0 ]; then
    drop_warmup=1
    copies=$((n * ROUNDS + ${#noop_ids[@]}))
    need=$((du_b * 105 * copies / 100 + (1 << 30)))
  fi
  [ "$avail" -gt "$need" ] || die "$kind: $copies copies need ~$((need >> 30)) GiB in $dsts, only $((avail >> 30)) GiB free (lower ROUNDS or free space)"
  inodes=$(((nf + nd + nl) * copies))
  iavail=$(df --output=iavail "$dsts" | tail -n 1)
  [ "$iavail" = - ] || [ "$iavail" -gt "$inodes" ] || die "$kind: $copies copies need $inodes inodes, only $iavail free"

  note "$kind: $nf files, $nd dirs, $nl symlinks, $((du_b >> 20)) MiB on disk; $WARMUP warm-up + $ROUNDS timed rounds of: ${ids[*]}"
  warm "$src"
  cooldown
  # Rounds 1-WARMUP are the untimed warm-up (phase "warmup" in results.tsv, not in
  # the report): the first runs after a pause or a big deletion are slow here.
  for ((r = 1; r <= WARMUP + ROUNDS; r++)); do
    phase=copy rr=$((r - WARMUP))
    [ "$r" -le "$WARMUP" ] && phase=warmup # numbered 0, -1, ...
    if [ "$r" = $((WARMUP + 1)) ] && [ "$WARMUP" -gt 0 ] && [ "$drop_warmup" = 1 ]; then
      note "$kind: not enough disk to keep the warm-up copies"
      remove_tree "$dsts"/*.w*
      cooldown
    fi
    for ((p = 0; p < n; p++)); do
      id=${ids[$(((p + r - 1) % n))]} # rotate the order each round
      dst=$dsts/$id.r$rr
      [ "$phase" = warmup ] && dst=$dsts/$id.w$r
      argv_for "$id" "$src" "$dst"
      drop_caches
      warm "$src" # before every run: this VM evicts page cache unused for ~1 min
      timed "$kind" "$phase" "$id" "$rr" -- "${argv[@]}"
      v=-
      if [ "$rc" = 0 ] && [[ $id == copyd* ]]; then verify "$src" "$dst"; v=ok; fi
      row "$kind" "$phase" "$id" "$rr" "$((p + 1))" "$v"
      check_exit "$id"
    done
  done

  if [ ${#noop_ids[@]} -gt 0 ]; then
    note "$kind: no-op re-run on a complete copy: ${noop_ids[*]}"
    for id in "${noop_ids[@]}"; do # each tool re-runs on a copy it made itself (untimed)
      argv_for "$id" "$src" "$dsts/$id"
      "${argv[@]}" >"$res/logs/$kind.noop-prepare.$id.log" 2>&1 || die "$(label_for "$id") failed preparing $dsts/$id"
      verify "$src" "$dsts/$id"
    done
    nn=${#noop_ids[@]}
    for ((r = 1; r <= ROUNDS; r++)); do
      for ((p = 0; p < nn; p++)); do
        id=${noop_ids[$(((p + r - 1) % nn))]}
        dst=$dsts/$id
        argv_for "$id" "$src" "$dst"
        drop_caches
        warm "$src"
        du -s "$dst" >/dev/null # the copy's metadata, as right after the sync that made it
        if [[ $id == copyd*-noop ]]; then
          listing "$dst" >"$res/logs/.before"
          listing_c "$dst" >"$res/logs/.before_c"
        fi
        timed "$kind" noop "$id" "$r" -- "${argv[@]}"
        v=-
        if [ "$rc" = 0 ] && [[ $id == copyd*-noop ]]; then
          listing "$dst" >"$res/logs/.after"
          if ! diff "$res/logs/.before" "$res/logs/.after" >"$res/logs/.diff"; then
            head -n 20 "$res/logs/.diff" >&2
            die "$kind: the copyd re-run was not a no-op: it rewrote or changed the entries above (inode/size/mtime/mode)"
          fi
          listing_c "$dst" >"$res/logs/.after_c"
          if ! cmp -s "$res/logs/.before_c" "$res/logs/.after_c"; then
            note "WARNING: $kind: the copyd no-op changed the ctime of $(diff "$res/logs/.before_c" "$res/logs/.after_c" | grep -c '^>') entries: it rewrote their data in place or reset their metadata to the same values"
          fi
          verify "$src" "$dst"
          v=ok
        fi
        row "$kind" noop "$id" "$r" "$((p + 1))" "$v"
        check_exit "$id"
      done
    done
  fi
  remove_tree "$dsts" # only now, after all rounds
done
rm -rf "$work/.state"
rmdir "$work" 2>/dev/null || true
rm -f "$res"/logs/.time "$res"/logs/.diff "$res"/logs/.before* "$res"/logs/.after*
find "$res/logs" -type f -empty -delete

report report.sh "$res/results.tsv"
note "report: $res/report.md   raw: $res/results.tsv"
