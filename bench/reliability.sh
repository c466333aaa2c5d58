#!/usr/bin/env bash
# bench/reliability.sh — copyd's reliability suite at full size (issue 5),
# one command; RELIABILITY.md says what each part checks. CI runs the same
# tests at a short size as part of `go test ./...`.
#
#   bash bench/reliability.sh          # ~16 minutes on 2 cores (5000 identity seeds: ~7.5 min)
#
# Env: SEEDS=100 (churn seeds), KILLS=60 (kill -9s), CHURN_KILLS=30 (kill -9s
# during churn), LOAD=200000 (files created while copyd runs), FUZZTIME=2m
# (config fuzzing), IDENTITY_SEEDS=5000 (look-alike property seeds through
# copyd sync), IDENTITY_RUN_SEEDS=200 (the same through copyd run).
# Needs root for the parts that mount a tmpfs or a loop device, lower the inotify queue, use
# a user namespace or run copyd as another user; they say so when skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
IDENTITY_SEEDS=${IDENTITY_SEEDS:-5000} IDENTITY_RUN_SEEDS=${IDENTITY_RUN_SEEDS:-200}
SEEDS=${SEEDS:-100} KILLS=${KILLS:-60} CHURN_KILLS=${CHURN_KILLS:-30} LOAD=${LOAD:-200000} FUZZTIME=${FUZZTIME:-2m}
log=$(mktemp "${TMPDIR:-/tmp}/copyd-reliability.XXXXXX.log") # kept: the whole output, for a failure's details
start=$(date +%s)
step() { printf '\n== %s\n' "$*"; }

step "churn ($SEEDS seeds), kill -9 ($KILLS kills, $CHURN_KILLS during churn), load ($LOAD files), faults and brakes with the real binary"
COPYD_CHURN_SEEDS=$SEEDS COPYD_CRASH_KILLS=$KILLS COPYD_CRASH_CHURN_KILLS=$CHURN_KILLS COPYD_LOAD_FILES=$LOAD go test -race -count=1 -v -timeout 60m \
  -run '^(TestChurn|TestCrashLeavesOnlyCompleteFiles|TestCrashDuringChurn|TestRunUnreadableIsRetried|TestRunReadOnlyDestination|TestRunSourceUnmounted|TestRunFileReplacedByFolderMidCopy|TestHostile.*|TestRunWatchLimitDegraded|TestRunOverflowRescan|TestRunMissingSourceRoot|TestRunEmptiedSourceDeletesNothing|TestRunSIGTERMMidCopy|TestRunSlowWriterNeverPartial|TestRunBurstOf10000Files|TestRunLoad)$' \
  ./cmd/copyd/ | tee -a "$log" | grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|ok|FAIL)|kills|files written|skip' | grep -v '=== RUN' || true

step "identity property: $IDENTITY_SEEDS seeds through copyd sync, $IDENTITY_RUN_SEEDS through copyd run (look-alike files: few sizes, one mtime)"
COPYD_IDENTITY_SEEDS=$IDENTITY_SEEDS COPYD_IDENTITY_RUN_SEEDS=$IDENTITY_RUN_SEEDS go test -count=1 -v -timeout 60m \
  -run '^(TestIdentityPropertySync|TestIdentityPropertyRun)$' ./cmd/copyd/ | tee -a "$log" |
  grep -E '^(--- (PASS|FAIL|SKIP)|ok|FAIL)|seeds' | grep -v '^    --- PASS' || true

step "engine and watcher faults: full destination, races, grace, kernel overflow, watch limit, hostile trees, hard links"
go test -race -count=1 -v -timeout 20m \
  -run '^(TestDaemonPausesOnFullDestination|TestLinkIndex.*|TestDaemonOlderCopyNeverWins|TestDaemonGraceAbortsCopies|TestDaemonDeleteBrakes|TestKernelOverflow|TestWatchLimitUserNamespace|TestOverflowHook|TestSync.*|TestCopy.*|TestSourceUnchanged|TestUnchangedSince)$' \
  ./sync/ ./watcher/ | tee -a "$log" | grep -E '^(--- (FAIL|SKIP)|ok|FAIL)' || true

step "config fuzzing ($FUZZTIME)"
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$FUZZTIME" ./config/ 2>&1 | tee -a "$log" | tail -3

passed=$(grep -c -- '--- PASS' "$log" || true)
failed=$(grep -c -- '--- FAIL' "$log" || true)
skipped=$(grep -c -- '--- SKIP' "$log" || true)
step "summary: $passed passed, $failed failed, $skipped skipped in $(( $(date +%s) - start )) s"
grep -E 'kills \(|files written in' "$log" || true
echo "whole output: $log"
[ "$failed" = 0 ] && ! grep -q '^FAIL' "$log"
