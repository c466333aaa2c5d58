#!/usr/bin/env bash
# bench/pass-writes.sh — how many copies copyd run makes of files rewritten
# while its first full pass runs (ideal: one each). Makes FILES files of
# 4 KiB in 40 folders, starts `copyd run`, rewrites REWRITES of them in place
# during the pass, waits until they are quiet, and counts the "copied" debug
# lines. Checks the trees are identical.
#
#   bash bench/pass-writes.sh [COPYD_BIN...]   # default: ./cmd/copyd built now
#
# Env: FILES=20000 REWRITES=400 RUNS=3 BENCH_DIR=/var/tmp/copyd-bench
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FILES=${FILES:-20000} REWRITES=${REWRITES:-400} RUNS=${RUNS:-3}
work=${BENCH_DIR:-/var/tmp/copyd-bench}/pass-writes
mkdir -p "$work"
if [ $# -eq 0 ]; then
  go build -o "$work/copyd" ./cmd/copyd
  set -- "$work/copyd"
fi
printf '| binary | run | files | rewritten during the pass | copies | extra copies |\n| --- | --- | --- | --- | --- | --- |\n'
for bin in "$@"; do
  for run in $(seq "$RUNS"); do
    rm -rf "$work/src" "$work/dst" "$work/log"
    python3 - "$work/src" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = f'{root}/d{i % 40}'
    os.makedirs(d, exist_ok=True)
    with open(f'{d}/f{i // 40}', 'wb') as f:
        f.write(os.urandom(4096))
PY
    "$bin" run --log-level debug --log-format json --settle 100ms "$work/src" "$work/dst" 2>"$work/log" &
    pid=$!
    sleep 0.15 # the pass is under way
    python3 - "$work/src" "$FILES" "$REWRITES" "$run" <<'PY'
import os, random, sys
root, n, k, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(seed)
for i in random.sample(range(n), k):
    with open(f'{root}/d{i % 40}/f{i // 40}', 'r+b') as f:
        f.write(os.urandom(4096))
PY
    for _ in $(seq 600); do grep -q '"msg":"watching"' "$work/log" && break; sleep 0.1; done
    sleep 1.5 # the rewrites' events settle and are handled
    kill "$pid"; wait "$pid" || true
    diff -r "$work/src" "$work/dst" >/dev/null || { echo "trees differ after $bin run $run" >&2; exit 1; }
    copies=$(grep -c '"msg":"copied"' "$work/log" || true)
    printf '| %s | %d | %d | %d | %d | %d |\n' "$(basename "$bin")" "$run" "$FILES" "$REWRITES" "$copies" $((copies - FILES))
  done
done
rm -rf "$work/src" "$work/dst"
