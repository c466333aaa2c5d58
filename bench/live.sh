#!/usr/bin/env bash
# bench/live.sh — copyd's watch daemon (`copyd run`) side by side with lsyncd
# 2.2.3 (default.rsync), in one run, for the targets of issue 3. See
# bench/README.md ("Watch daemon benchmark").
#
#   bash bench/live.sh [SECTION...]     SECTION: latency burst scale (default: all three)
#   QUICK=1 bash bench/live.sh          tiny sizes, < 1 min: to try the harness itself
#   bash bench/live-report.sh FILE.tsv  print the Markdown report of a run again
#
# What it measures:
#   latency  a new 4 KiB file: close() in the source -> complete in the destination,
#            one file at a time (shared/bench/cmd/latency -mode dest): p50 p99 min max
#            of LAT_N=200 changes for copyd (default settle, and --settle 0) and
#            lsyncd delay = 0; LAT_N_SLOW=5 changes for lsyncd's default delay (15 s).
#   burst    10,000 new files of 1-4 KiB in 10 new folders, written as fast as
#            possible while the daemon runs: first write -> every file complete in
#            the destination (polled), against a one-shot `copyd sync` of the same
#            files into a fresh destination; lsyncd delay = 0 too. ROUNDS=3 rounds.
#   scale    1,000,000 empty files in 100,000 folders (cached in BENCH_DIR/src/scale1m):
#            start -> "watching" (initial copy into a fresh destination + watches),
#            peak RSS, idle CPU over 60 s; lsyncd: start -> "Startup ... finished".
# How long: about 14 min on the 2-core reference machine (latency ~3 min, burst
# ~1.5 min, scale ~6 min, deleting the 3.3 M copied entries ~2.5 min, plus a
# cool-down of up to 65 s after an earlier run's deletion), and ~20 s more the
# first time, to make the scale tree. QUICK=1: ~40 s.
#
# Env:
#   ROUNDS=5             burst rounds (minimum 3; QUICK: 3); SCALE_ROUNDS=1 scale rounds
#   QUICK=1              LAT_N=20 (no 15 s-delay lsyncd), 500-file bursts, 3 rounds, no warm-up,
#                        10,000-file scale tree, IDLE_S=5, no cool-down
#   BENCH_DIR=/var/tmp/copyd-bench   scale tree (src/), copies (work/), results (results/)
#   COPYD_BIN=…          copyd to test (default: `go build ./cmd/copyd` into BENCH_DIR/bin)
#   DAEMONS="copyd lsyncd"   subset (DAEMONS=lsyncd: no `copyd run` needed; the burst's
#                        one-shot copyd sync still runs)
#   FSYNC=false          --fsync value for every copyd run and sync (lsyncd never fsyncs)
#   COPYD_FLAGS=""       extra flags for every `copyd run` and `copyd sync`
#   LAT_N=200 LAT_N_SLOW=5 LAT_GAP=50ms   latency changes, changes at lsyncd's 15 s delay, pause
#   BURST_FILES=10000 BURST_DIRS=10       burst size
#   SCALE_DIRS=100000 SCALE_FILES=10      scale tree: folders, empty files per folder
#   IDLE_S=60            idle-CPU window;  LSYNCD_SCALE=1 (0: no lsyncd in the scale test)
#   COPYD_OLD_BIN=…      an older copyd, restarted on the scale copy after the new one (same run)
#   SCALE_ONESHOT=1      scale: also time a one-shot `copyd sync` of the tree (reference)
#   WARMUP=1             burst: untimed warm-up rounds first (QUICK: 0)
#   BURST_NEW_DIRS=1     0: the burst's folders exist before the daemon starts
#   INOTIFY_WATCHES=262144   fs.inotify.max_user_watches during the run, as root, if lower (restored)
#   DROP_CACHES=1        scale: as root, drop the page cache (then re-read the tree's metadata)
#   COOLDOWN=65          seconds to wait after a mass deletion before timing (ext4 trap)
#   SETTLE_MS=250        copyd's default settle (the latency targets are settle + 20 / + 100 ms)
#   KEEP=0               1: keep the copies in BENCH_DIR/work (else deleted at the end)
#   OUT_TSV=bench/results/<date>-live.tsv   copy of the raw results (not in QUICK mode)
#   COPYD_SHARED_BENCH=<repo>/../shared/bench   where the latency probe's source lives
#
# Output: BENCH_DIR/results/<timestamp>-live/{live.tsv,report.md,run.log,logs/}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- settings
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(latency burst scale)
for s in "${sections[@]}"; do
  case $s in latency | burst | scale) ;;
  -h | --help) usage; exit 0 ;;
  *) die "unknown section '$s' (latency burst scale)" ;; esac
done
want() { [[ " ${sections[*]} " == *" $1 "* ]]; }

if [ "${QUICK:-0}" = 1 ]; then
  LAT_N=${LAT_N:-20} LAT_N_SLOW=${LAT_N_SLOW:-0} BURST_FILES=${BURST_FILES:-500} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-0}
  SCALE_DIRS=${SCALE_DIRS:-1000} IDLE_S=${IDLE_S:-5} COOLDOWN=${COOLDOWN:-0}
fi
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
BURST_NEW_DIRS=${BURST_NEW_DIRS:-1}
SCALE_ROUNDS=${SCALE_ROUNDS:-1}
LAT_N=${LAT_N:-200}
LAT_N_SLOW=${LAT_N_SLOW:-5}
LAT_GAP=${LAT_GAP:-50ms}
BURST_FILES=${BURST_FILES:-10000}
BURST_DIRS=${BURST_DIRS:-10}
SCALE_DIRS=${SCALE_DIRS:-100000}
SCALE_FILES=${SCALE_FILES:-10}
IDLE_S=${IDLE_S:-60}
INOTIFY_WATCHES=${INOTIFY_WATCHES:-262144}
COOLDOWN=${COOLDOWN:-65}
FSYNC=${FSYNC:-false}
read -ra daemons <<<"${DAEMONS:-copyd lsyncd}"
read -ra copyd_flags <<<"${COPYD_FLAGS:-}"
for v in ROUNDS WARMUP BURST_NEW_DIRS SCALE_ROUNDS LAT_N LAT_N_SLOW BURST_FILES BURST_DIRS SCALE_DIRS SCALE_FILES IDLE_S COOLDOWN INOTIFY_WATCHES; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v}: need a whole number"
done
[ "$ROUNDS" -ge 3 ] || die "ROUNDS=$ROUNDS: need at least 3 (a median of fewer means little)"
[ "$SCALE_ROUNDS" -ge 1 ] || die "SCALE_ROUNDS must be at least 1"
case $FSYNC in true | false) ;; *) die "FSYNC=$FSYNC: true or false" ;; esac
has_daemon() { [[ " ${daemons[*]} " == *" $1 "* ]]; }
for d in "${daemons[@]}"; do case $d in copyd | lsyncd) ;; *) die "DAEMONS: unknown '$d' (copyd lsyncd)" ;; esac; done

# ---------------------------------------------------------------- tools
# lsyncd, inotify-tools and rsync come from Debian. As root, install them when
# one is missing, and always in CI (apt-get is a no-op when they are there).
need_pkgs() { command -v lsyncd >/dev/null && command -v inotifywait >/dev/null && command -v rsync >/dev/null && [ -x /usr/bin/time ]; }
if [ "$(id -u)" = 0 ] && { [ "${CI:-}" = true ] || ! need_pkgs; }; then
  note "installing lsyncd inotify-tools rsync time (apt-get)"
  apt-get install -y -qq lsyncd inotify-tools rsync time >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq lsyncd inotify-tools rsync time >/dev/null; } ||
    die "apt-get install lsyncd inotify-tools rsync time failed"
fi
need_pkgs || die "needs lsyncd, inotifywait, rsync and GNU time: apt-get install -y lsyncd inotify-tools rsync time"
lsyncd --version 2>/dev/null | grep -q '^Version: 2\.2\.' || note "WARNING: expected lsyncd 2.2.x, found $(lsyncd --version 2>&1 | head -n 1)"
need_tools go diff find du df sysctl getconf
need_shared cmd/latency "latency probe"

start_run -live

# Probes are built into a temp dir: the latency probe from shared/bench (its
# own module), livebench (bursts, the scale tree) from this repo.
tmpbin=$(mktemp -d "${TMPDIR:-/tmp}/copyd-live-bin.XXXXXX")
(cd "$shared" && go build -o "$tmpbin/latency" ./cmd/latency) || die "cannot build $shared/cmd/latency"
(cd "$repo" && go build -o "$tmpbin/livebench" ./bench/livebench) || die "cannot build bench/livebench"
probe=$tmpbin/latency lb=$tmpbin/livebench

build_copyd " (or set COPYD_BIN)"
if has_daemon copyd && ! "$COPYD_BIN" help 2>&1 | grep -q 'copyd run'; then
  die "$COPYD_BIN has no 'run' command yet (DAEMONS=lsyncd measures lsyncd alone)"
fi

# ---------------------------------------------------------------- clean-up
pids=()            # daemons still running
watches_restore="" # fs.inotify.max_user_watches to put back
on_exit() {
  local st=$? p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if [ -n "$watches_restore" ]; then sysctl -qw fs.inotify.max_user_watches="$watches_restore" || true; fi
  rm -rf "$tmpbin"
  [ "$st" = 0 ] || printf '\n*** live.sh stopped (exit %s). Copies left in %s (rm -rf it when done); logs in %s\n' "$st" "$work" "$res" >&2
}
trap on_exit EXIT

# ---------------------------------------------------------------- results
tsv=$res/live.tsv
printf 'section\tid\tround\tmetric\tvalue\tlabel\n' >"$tsv"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$tsv"; } # SECTION ID ROUND METRIC VALUE LABEL
meta() { row meta - - "$1" "$2" -; }

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "$([ "${QUICK:-0}" = 1 ] && printf 'QUICK=1 ')bash bench/live.sh ${sections[*]}"
meta quick "${QUICK:-0}"
meta sections "${sections[*]}"
meta daemons "${daemons[*]}"
meta_machine
journal=$(journal_of "$base")
meta fs "$(fs_of "$base")${journal:+, $journal}"
meta_git
meta go "$(go env GOVERSION)"
meta copyd_sha256 "$(sha256sum "$COPYD_BIN" | cut -c1-16)"
meta copyd_flags "--fsync=$FSYNC${COPYD_FLAGS:+ $COPYD_FLAGS}"
meta settle_ms "${SETTLE_MS:-250}" # copyd's default --settle: the latency targets are relative to it
meta rounds "$ROUNDS"
meta lat_n "$LAT_N"
meta burst_files "$BURST_FILES"
meta burst_dirs "$BURST_DIRS"
meta burst_new_dirs "$BURST_NEW_DIRS"
meta warmup "$WARMUP"
meta lsyncd "$(lsyncd --version 2>&1 | sed -n 's/^Version: //p' | head -n 1)"
meta rsync "$(rsync --version | head -n 1 | awk '{ print $3 }')"
meta inotify "$(sysctl -n fs.inotify.max_user_watches) watches, $(sysctl -n fs.inotify.max_queued_events) queued events"
meta loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- helpers
now_us() { echo "${EPOCHREALTIME/./}"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
secs() { printf '%d.%03d' $(($1 / 1000000)) $((($1 % 1000000) / 1000)); } # microseconds -> s
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; } # KEY "k=v k=v" -> v
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }
# utime+stime+cutime+cstime: the process and its finished children (lsyncd's rsyncs)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
clk=$(getconf CLK_TCK)

label_of() {
  case $1 in
  copyd) echo "copyd run" ;;
  copyd-s0) echo "copyd run --settle 0" ;;
  lsyncd) echo "lsyncd default.rsync, delay = 0" ;;
  lsyncd-d15) echo "lsyncd default.rsync, default delay (15 s)" ;;
  oneshot) echo "copyd sync (one-shot, fresh destination)" ;;
  copyd-restart) echo "copyd run, restarted on its complete copy" ;;
  copyd-restart2) echo "copyd run, restarted again (destination folders proven by their recorded ctime)" ;;
  copyd-old-restart) echo "copyd run (COPYD_OLD_BIN), restarted on the same copy" ;;
  esac
}

# start_daemon ID SRC DST LOG: starts copyd run / lsyncd in the background.
# Sets dpid, dready (the log line that says it is ready) and dlog.
start_daemon() {
  local id=$1 s=$2 d=$3
  dlog=$4
  case $id in
  copyd | copyd-s0 | copyd-restart | copyd-restart2 | copyd-old-restart)
    local extra=() bin=$COPYD_BIN
    [ "$id" = copyd-s0 ] && extra=(--settle 0)
    [ "$id" = copyd-old-restart ] && bin=$COPYD_OLD_BIN
    "$bin" run "$s" "$d" --log-format json --fsync="$FSYNC" "${extra[@]}" "${copyd_flags[@]}" >"$dlog" 2>&1 &
    dpid=$! dready='"msg":"watching"'
    ;;
  lsyncd | lsyncd-d15)
    local delay="delay = 0,"
    [ "$id" = lsyncd-d15 ] && delay="" # default.rsync's default: 15 s
    # archive = true: keep modes and times, as copyd does (checked after each burst)
    cat >"$dlog.conf" <<EOF
settings { logfile = "$dlog", nodaemon = true }
sync { default.rsync, source = "$s", target = "$d", $delay rsync = { archive = true } }
EOF
    : >"$dlog"
    lsyncd "$dlog.conf" >"$dlog.stdout" 2>&1 &
    dpid=$! dready='Startup of .* finished'
    ;;
  esac
  pids+=("$dpid")
}
# wait_ready TIMEOUT_S: waits for the ready line; sets ready_us (since t_start)
wait_ready() {
  local limit=$(($(now_us) + $1 * 1000000))
  while ! grep -q "$dready" "$dlog" 2>/dev/null; do
    if ! kill -0 "$dpid" 2>/dev/null; then tail -n 20 "$dlog" "$dlog.stdout" 2>/dev/null >&2; die "daemon $dpid exited before it was ready (log $dlog)"; fi
    [ "$(now_us)" -lt "$limit" ] || { tail -n 20 "$dlog" >&2; die "daemon not ready after $1 s (log $dlog)"; }
    sleep 0.01
  done
  ready_us=$(($(now_us) - t_start))
}
# stop_daemon ID: SIGTERM, up to 20 s, then SIGKILL. Sets drc. copyd must exit 0.
stop_daemon() {
  local i p keep=()
  kill -TERM "$dpid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$dpid" 2>/dev/null && { note "WARNING: $1 ignored SIGTERM for 20 s, killing it"; kill -KILL "$dpid" 2>/dev/null || true; }
  drc=0
  wait "$dpid" 2>/dev/null || drc=$?
  for p in "${pids[@]}"; do [ "$p" = "$dpid" ] || keep+=("$p"); done
  pids=("${keep[@]}")
  if [[ $1 == copyd* ]] && [ "$drc" != 0 ]; then
    note "WARNING: $1 exited $drc on SIGTERM (want 0); log $dlog"
    problems+=("$1 exited $drc on SIGTERM ($dlog)")
  fi
}
# Warnings and errors copyd logged (json): count, and a sample in the run log.
copyd_log_check() { # ID LOG SECTION ROUND
  local n
  n=$(grep -c '"level":"\(WARN\|ERROR\)"' "$2" || true)
  row "$3" "$1" "$4" log_warnings "$n" "$(label_of "$1")"
  if [ "$n" -gt 0 ]; then note "$1 logged $n warnings/errors, e.g.:"; grep -m 3 '"level":"\(WARN\|ERROR\)"' "$2" >&2 || true; fi
}

# verify SRC DST [full]: the copy must equal the source (outside any timing):
# rsync -an lists no difference (files, sizes, mtimes, modes, extra entries;
# folder mtimes not compared: the daemons may touch them later) and, unless
# the tree is the big empty-file one, diff -r finds none. Failure is recorded
# and makes the run exit 1 at the end, after the report.
problems=()
verify() { # SRC DST SECTION ID ROUND
  local out ok=ok
  out=$(rsync -an --delete --itemize-changes --omit-dir-times "$1/" "$2/" 2>&1 | head -n 20) || true
  if [ -n "$out" ]; then ok=FAIL; printf '%s\n' "$out" >&2; fi
  if [ "$3" != scale ] && ! diff -r --no-dereference -q "$1" "$2" >"$res/logs/.diff" 2>&1; then
    ok=FAIL
    head -n 20 "$res/logs/.diff" >&2
  fi
  row "$3" "$4" "$5" verify "$ok" "$(label_of "$4")"
  if [ $ok != ok ]; then
    note "WARNING: $(label_of "$4") round $5: $2 differs from $1 (above)"
    problems+=("$3 $4 round $5: copy differs from source ($2)")
  fi
}

# ---------------------------------------------------------------- latency
run_latency() {
  local ids=() id n d out line
  has_daemon copyd && ids+=(copyd copyd-s0)
  has_daemon lsyncd && ids+=(lsyncd lsyncd-d15)
  note "latency: one new 4 KiB file at a time, $LAT_N changes ($LAT_N_SLOW at lsyncd's 15 s delay): ${ids[*]}"
  for id in "${ids[@]}"; do
    n=$LAT_N
    [ "$id" = lsyncd-d15 ] && n=$LAT_N_SLOW
    [ "$n" -gt 0 ] || continue
    d=$work/latency/$id
    # src/probe (where the probe writes) exists before the daemon starts, so
    # the probe does not wait for the folder itself (15 s with lsyncd's delay)
    mkdir -p "$d/src/probe" "$d/dst"
    row latency "$id" 1 load1 "$(load1)" "$(label_of "$id")"
    t_start=$(now_us)
    start_daemon "$id" "$d/src" "$d/dst" "$res/logs/latency.$id.log"
    wait_ready 120
    out=$("$probe" -mode dest -src "$d/src" -dst "$d/dst" -n "$n" -size 4096 -gap "$LAT_GAP" -timeout 60s -raw -label "id=$id") ||
      die "latency probe failed for $id: $out"
    printf '%s\n' "$out" >"$res/logs/latency.$id.samples"
    line=$(head -n 1 <<<"$out")
    for k in n lost p50_ms p90_ms p99_ms min_ms max_ms mean_ms; do row latency "$id" 1 "$k" "$(kv "$k" "$line")" "$(label_of "$id")"; done
    row latency "$id" 1 peak_rss_kib "$(hwm_kib "$dpid")" "$(label_of "$id")"
    note "  $(label_of "$id"): $(cut -d' ' -f3- <<<"$line")"
    stop_daemon "$id"
    if [[ $id == copyd* ]]; then copyd_log_check "$id" "$dlog" latency 1; fi
  done
}

# ---------------------------------------------------------------- burst
burst_args=(-n "$BURST_FILES" -dirs "$BURST_DIRS" -min 1024 -max 4096 -seed 1)
run_burst() {
  local ids=() r rl p id n d out wall t0 t1 cpu c0 u s rss i
  has_daemon copyd && ids+=(copyd copyd-s0)
  ids+=(oneshot)
  has_daemon lsyncd && ids+=(lsyncd)
  n=${#ids[@]}
  note "burst: $BURST_FILES files of 1-4 KiB in $BURST_DIRS $([ "$BURST_NEW_DIRS" = 1 ] && echo new || echo existing) folders, $WARMUP warm-up + $ROUNDS rounds of: ${ids[*]}"
  cooldown
  # Rounds 1-WARMUP..0 are the untimed warm-up (round "wN" in the tsv, not in
  # the report): the first runs after a pause are slow here (memory given
  # back to the host; seen: one-shot 2.6 s with 4.8 s of CPU, 0.27 s later).
  for ((r = 1 - WARMUP; r <= ROUNDS; r++)); do
    rl=$r
    [ "$r" -gt 0 ] || rl=w$((r + WARMUP))
    for ((p = 0; p < n; p++)); do
      id=${ids[$(((p + r + WARMUP - 1) % n))]} # the order rotates every round
      d=$work/burst/$id.r$rl
      mkdir -p "$d/src"
      if [ "$BURST_NEW_DIRS" = 0 ]; then
        for ((i = 0; i < BURST_DIRS; i++)); do mkdir -p "$d/src/$(printf 'd%02d' "$i")"; done
      fi
      if [ "$id" = oneshot ]; then
        # the same files (same seed), written untimed, then copied by copyd sync
        "$lb" burst -src "$d/src" "${burst_args[@]}" >/dev/null || die "livebench burst (write only) failed"
        sync # nobody pays for earlier write-back; the source stays in the page cache
        row burst oneshot "$rl" load1 "$(load1)" "$(label_of oneshot)"
        t0=$(now_us)
        /usr/bin/time -f '%e %U %S %M' -o "$res/logs/.time" -- \
          "$COPYD_BIN" sync --fsync="$FSYNC" --progress never "${copyd_flags[@]}" "$d/src" "$d/dst" \
          >"$res/logs/burst.oneshot.r$rl.log" 2>&1 || { tail -n 20 "$res/logs/burst.oneshot.r$rl.log" >&2; die "copyd sync failed"; }
        t1=$(now_us)
        wall=$(secs $((t1 - t0)))
        read -r _ u s rss <"$res/logs/.time"
        cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        row burst oneshot "$rl" seconds "$wall" "$(label_of oneshot)"
        row burst oneshot "$rl" cpu_s "$cpu" "$(label_of oneshot)"
        row burst oneshot "$rl" peak_rss_kib "$rss" "$(label_of oneshot)"
        note "  r$rl $(label_of oneshot): ${wall}s (user+sys ${cpu}s)"
      else
        mkdir -p "$d/dst"
        t_start=$(now_us)
        start_daemon "$id" "$d/src" "$d/dst" "$res/logs/burst.$id.r$rl.log"
        wait_ready 120
        sync
        row burst "$id" "$rl" load1 "$(load1)" "$(label_of "$id")"
        c0=$(cpu_ticks "$dpid")
        out=$("$lb" burst -src "$d/src" -dst "$d/dst" "${burst_args[@]}" -poll 10ms -timeout 10m) ||
          { printf '%s\n' "$out" >&2; die "$(label_of "$id") did not converge (log $dlog)"; }
        cpu=$(awk -v a="$c0" -v b="$(cpu_ticks "$dpid")" -v c="$clk" 'BEGIN { printf "%.2f", (b - a) / c }')
        local cs ws
        cs=$(kv converge_s "$out") ws=$(kv write_s "$out")
        row burst "$id" "$rl" seconds "$cs" "$(label_of "$id")"
        row burst "$id" "$rl" write_s "$ws" "$(label_of "$id")"
        row burst "$id" "$rl" after_write_s "$(awk -v a="$cs" -v b="$ws" 'BEGIN { printf "%.3f", a - b }')" "$(label_of "$id")"
        row burst "$id" "$rl" cpu_s "$cpu" "$(label_of "$id")"
        row burst "$id" "$rl" peak_rss_kib "$(hwm_kib "$dpid")" "$(label_of "$id")"
        note "  r$rl $(label_of "$id"): converged in ${cs}s (writing took ${ws}s; daemon CPU ${cpu}s)"
        stop_daemon "$id"
        if [[ $id == copyd* ]]; then
          copyd_log_check "$id" "$dlog" burst "$rl"
          # its own account: how many batches ("changes copied" lines), how long they took
          row burst "$id" "$rl" batches "$(grep -c '"msg":"changes copied"' "$dlog" || true)" "$(label_of "$id")"
          row burst "$id" "$rl" batch_s "$(sed -n 's/.*"msg":"changes copied".*"dur":\([0-9]*\).*/\1/p' "$dlog" | awk '{ t += $1 } END { printf "%.3f", t / 1e9 }')" "$(label_of "$id")"
        fi
      fi
      verify "$d/src" "$d/dst" burst "$id" "$rl"
    done
  done
}

# ---------------------------------------------------------------- scale
scale_name() { # files -> scale1m, scale10k, ...
  local f=$1
  if [ $((f % 1000000)) = 0 ]; then echo "scale$((f / 1000000))m"; elif [ $((f % 1000)) = 0 ]; then echo "scale$((f / 1000))k"; else echo "scale$f"; fi
}
run_scale() {
  local files=$((SCALE_DIRS * SCALE_FILES)) name src params ids=() r p id n d c0 c1 idle hwm
  name=$(scale_name "$files")
  src=$base/src/$name
  # bump layout= when livebench tree changes the names or shape it makes
  params="dirs=$SCALE_DIRS files_per_dir=$SCALE_FILES layout=1"
  if [ ! -d "$src" ] || [ "$(cat "$src.params" 2>/dev/null)" != "$params" ]; then
    if [ -e "$src" ]; then remove_tree "$src"; fi
    note "scale: making $src: $files empty files in $SCALE_DIRS folders (once; later runs reuse it)"
    rm -rf "$src.partial"
    "$lb" tree -dir "$src.partial" -dirs "$SCALE_DIRS" -files "$SCALE_FILES" || die "livebench tree failed"
    mv "$src.partial" "$src"
    echo "$params" >"$src.params"
    sync
  fi
  row scale - - tree_files "$files" "$src"
  row scale - - tree_dirs "$SCALE_DIRS" "$src"

  # copyd and lsyncd each need one inotify watch per folder
  local cur
  cur=$(sysctl -n fs.inotify.max_user_watches)
  if [ "$cur" -lt "$INOTIFY_WATCHES" ]; then
    if sysctl -qw fs.inotify.max_user_watches="$INOTIFY_WATCHES" 2>/dev/null; then
      watches_restore=$cur
      note "scale: fs.inotify.max_user_watches raised from $cur to $INOTIFY_WATCHES for the run (restored at the end)"
      row scale - - inotify_watches "$INOTIFY_WATCHES (raised from $cur for the run)" -
    else
      note "WARNING: cannot raise fs.inotify.max_user_watches ($cur; not root?)"
      row scale - - inotify_watches "$cur (could not raise)" -
    fi
  else
    row scale - - inotify_watches "$cur" -
  fi

  has_daemon copyd && ids+=(copyd)
  [ "${SCALE_ONESHOT:-1}" = 1 ] && ids+=(oneshot)
  has_daemon lsyncd && [ "${LSYNCD_SCALE:-1}" = 1 ] && ids+=(lsyncd)
  n=${#ids[@]}
  [ "$n" -gt 0 ] || return 0
  note "scale: $files empty files in $SCALE_DIRS folders, $SCALE_ROUNDS round(s) of: ${ids[*]}; idle window ${IDLE_S}s"
  cooldown
  for ((r = 1; r <= SCALE_ROUNDS; r++)); do
    for ((p = 0; p < n; p++)); do
      id=${ids[$(((p + r - 1) % n))]}
      d=$work/scale/$id.r$r
      mkdir -p "$d"
      # Same memory state for both: page cache dropped, the tree's metadata
      # read again (as a daemon restarted on a busy server would find it).
      drop_caches
      du -s "$src" >/dev/null
      row scale "$id" "$r" load1 "$(load1)" "$(label_of "$id")"
      if [ "$id" = oneshot ]; then # reference: the same initial copy, without the daemon
        local t0 t1 u s rss
        t0=$(now_us)
        /usr/bin/time -f '%e %U %S %M' -o "$res/logs/.time" -- \
          "$COPYD_BIN" sync --fsync="$FSYNC" --progress never "${copyd_flags[@]}" "$src" "$d" \
          >"$res/logs/scale.oneshot.r$r.log" 2>&1 || { tail -n 20 "$res/logs/scale.oneshot.r$r.log" >&2; die "copyd sync failed"; }
        t1=$(now_us)
        read -r _ u s rss <"$res/logs/.time"
        row scale oneshot "$r" ready_s "$(secs $((t1 - t0)))" "$(label_of oneshot)"
        row scale oneshot "$r" startup_cpu_s "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')" "$(label_of oneshot)"
        row scale oneshot "$r" peak_rss_kib "$rss" "$(label_of oneshot)"
        note "  r$r $(label_of oneshot): $(secs $((t1 - t0)))s, peak RSS $((rss / 1024)) MiB"
        verify "$src" "$d" scale oneshot "$r"
        continue
      fi
      t_start=$(now_us)
      start_daemon "$id" "$src" "$d" "$res/logs/scale.$id.r$r.log"
      wait_ready "${SCALE_TIMEOUT:-3600}"
      c0=$(cpu_ticks "$dpid")
      row scale "$id" "$r" ready_s "$(secs "$ready_us")" "$(label_of "$id")"
      if [ "$id" = copyd ]; then # its own account: how long the initial copy took, how many watches
        local w
        w=$(grep -m 1 '"msg":"watching"' "$dlog")
        row scale copyd "$r" initial_copy_s "$(sed -n 's/.*"dur":\([0-9]*\).*/\1/p' <<<"$w" | awk '{ printf "%.2f", $1 / 1e9 }')" "$(label_of copyd)"
        row scale copyd "$r" watches "$(sed -n 's/.*"watches":\([0-9]*\).*/\1/p' <<<"$w")" "$(label_of copyd)"
      fi
      row scale "$id" "$r" startup_cpu_s "$(awk -v a="$c0" -v c="$clk" 'BEGIN { printf "%.2f", a / c }')" "$(label_of "$id")"
      note "  r$r $(label_of "$id"): ready after $(secs "$ready_us")s; idle for ${IDLE_S}s"
      sleep "$IDLE_S"
      c1=$(cpu_ticks "$dpid")
      hwm=$(hwm_kib "$dpid")
      idle=$(awk -v a="$c0" -v b="$c1" -v c="$clk" 'BEGIN { printf "%.2f", (b - a) / c }')
      row scale "$id" "$r" idle_cpu_s "$idle" "$(label_of "$id")"
      row scale "$id" "$r" idle_window_s "$IDLE_S" "$(label_of "$id")"
      row scale "$id" "$r" peak_rss_kib "$hwm" "$(label_of "$id")"
      note "  r$r $(label_of "$id"): idle CPU ${idle}s in ${IDLE_S}s, peak RSS $((hwm / 1024)) MiB"
      stop_daemon "$id"
      if [ "$id" = copyd ]; then copyd_log_check copyd "$dlog" scale "$r"; fi
      verify "$src" "$d" scale "$id" "$r"
      if [ "$id" = copyd ]; then scale_restarts "$src" "$d" "$r"; fi
    done
  done
}

# scale_restarts SRC DST ROUND: copyd run started again on the complete
# copy copyd just made (a restart, a reboot): start -> "watching", peak RSS,
# the index on disk; twice: the first restart lists every destination
# folder and records its ctime, the second (as every later one, or one
# after a periodic rescan) takes unchanged folders from the index. With
# COPYD_OLD_BIN, the older build on the same copy.
scale_restarts() {
  local src=$1 d=$2 r=$3 id idx
  idx=$(du -sk "$XDG_STATE_HOME/copyd" 2>/dev/null | cut -f1)
  row scale copyd "$r" index_kib "${idx:-0}" "$(label_of copyd)"
  note "  r$r index on disk: $((${idx:-0} / 1024)) MiB"
  for id in copyd-restart copyd-restart2 ${COPYD_OLD_BIN:+copyd-old-restart}; do
    drop_caches
    du -s "$src" >/dev/null
    t_start=$(now_us)
    start_daemon "$id" "$src" "$d" "$res/logs/scale.$id.r$r.log"
    wait_ready "${SCALE_TIMEOUT:-3600}"
    row scale "$id" "$r" ready_s "$(secs "$ready_us")" "$(label_of "$id")"
    row scale "$id" "$r" startup_cpu_s "$(awk -v a="$(cpu_ticks "$dpid")" -v c="$clk" 'BEGIN { printf "%.2f", a / c }')" "$(label_of "$id")"
    row scale "$id" "$r" peak_rss_kib "$(hwm_kib "$dpid")" "$(label_of "$id")"
    note "  r$r $(label_of "$id"): ready after $(secs "$ready_us")s, peak RSS $(($(hwm_kib "$dpid") / 1024)) MiB"
    stop_daemon "$id"
    verify "$src" "$d" scale "$id" "$r"
  done
}

# ---------------------------------------------------------------- run
cooldown
# (called plainly, not in an && list: bash ignores set -e inside those)
if want latency; then run_latency; fi
if want burst; then run_burst; fi
if want scale; then run_scale; fi

if [ "${KEEP:-0}" = 1 ]; then
  note "KEEP=1: copies kept in $work"
else
  remove_tree "$work"
fi
rm -f "$res/logs/.time" "$res/logs/.diff"
report live-report.sh "$tsv"
if [ "${QUICK:-0}" != 1 ]; then
  out=${OUT_TSV:-$repo/bench/results/$(date +%F)-live.tsv}
  mkdir -p "$(dirname "$out")"
  cp "$tsv" "$out"
  note "raw results: $out"
fi
note "report: $res/report.md   raw: $tsv   logs: $res/logs"
if [ ${#problems[@]} -gt 0 ]; then
  printf '\n*** live.sh: %d problem(s):\n' "${#problems[@]}" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
