#!/usr/bin/env bash
# bench/report.sh RESULTS.tsv — Markdown report of a bench/run.sh run (paste-ready
# for BENCHMARKS.md). Reads meta.tsv and datasets.tsv from the same folder when
# they are there. run.sh calls it at the end and saves the output as report.md.
set -euo pipefail
export LC_ALL=C
if [ $# != 1 ] || [ ! -f "$1" ]; then sed -n 2,4p "$0"; exit 2; fi
tsv=$1
dir=$(dirname "$tsv")
meta=$dir/meta.tsv
sets=$dir/datasets.tsv
[ -f "$meta" ] || meta=/dev/null
[ -f "$sets" ] || sets=/dev/null

awk -F'\t' "$(<"$(dirname "$0")/lib.awk")"'
function human(b) {
  if (b >= 1073741824) return sprintf("%.2f GiB", b / 1073741824)
  if (b >= 1048576) return sprintf("%.1f MiB", b / 1048576)
  if (b >= 1024) return sprintf("%.1f KiB", b / 1024)
  return b " B"
}
function rank(c) { return (c == "cp") ? 1 : (c ~ /^rsync/) ? 2 : (c ~ /^copyd-old/) ? 3 : (c == "copyd" || c == "copyd-noop") ? 4 : (c == "copyd-fsync") ? 5 : 9 }
function ratio(peer, mine,   r) {
  if (peer == "" || mine <= 0 || peer <= 0) return "—"
  r = peer / mine
  return (r >= 1) ? sprintf("**%.2f× faster**", r) : sprintf("%.2f× slower", 1 / r)
}
function words(peer, mine, name,   r) {
  r = peer / mine
  return (r >= 1) ? sprintf("%.2f× faster than %s", r, name) : sprintf("%.2f× slower than %s", 1 / r, name)
}

FILENAME == ARGV[1] { M[$1] = $2; next }
FILENAME == ARGV[2] { if (FNR > 1) { F[$1] = $2; D[$1] = $3; L[$1] = $4; B[$1] = $5 } next }
FNR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
  k = $col["kind"]; ph = $col["phase"]; c = $col["cmd"]
  if (!(k in seenk)) { seenk[k] = 1; kinds[++nk] = k }
  g = k SUBSEP ph
  if (!((g, c) in seenc)) { seenc[g, c] = 1; cmds[g, ++nc[g]] = c; label[c] = $col["label"] }
  wall[g, c] = wall[g, c] " " $col["wall_s"]
  cpu[g, c] = cpu[g, c] " " ($col["user_s"] + $col["sys_s"])
  if ($col["maxrss_kib"] + 0 > rss[g, c]) rss[g, c] = $col["maxrss_kib"] + 0
  if ($col["exit"] != "0") bad[g, c]++
  if ($col["load1"] + 0 > maxload) maxload = $col["load1"] + 0
}
END {
  title = "## Benchmark: copyd sync vs cp -a and rsync -a"
  if (M["quick"] == "1") title = title " (QUICK: tiny data sets, for testing the harness only)"
  print title
  print ""
  dur = ""
  if (M["duration_s"] != "") dur = sprintf(", took %d min %d s", M["duration_s"] / 60, M["duration_s"] % 60)
  wu = (M["warmup"] > 0) ? sprintf(", after %d untimed warm-up round%s", M["warmup"], M["warmup"] > 1 ? "s" : "") : ""
  if (M["date"] != "") printf "Run %s with `%s` (ROUNDS=%s%s)%s.\n\n", M["date"], M["command"], M["rounds"], wu, dur
  if (M["nproc"] != "") {
    print "| | |"
    print "| --- | --- |"
    printf "| machine | %s CPUs (%s), %s RAM, %s |\n", M["nproc"], M["cpu"], M["ram"], M["kernel"]
    j = (M["journal"] != "") ? ", " M["journal"] : ""
    printf "| file system | %s%s, data and copies in `%s` |\n", M["fs"], j, M["bench_dir"]
    dirty = (M["git_dirty"] == "yes") ? " + uncommitted changes" : ""
    if (M["copyd_bin"] != "")
      printf "| copyd | commit %s%s, %s, binary sha256 %s… |\n", M["git_commit"], dirty, M["go"], M["copyd_sha256"]
    else
      printf "| copyd | not run (COMMANDS=%s); repo at commit %s%s |\n", M["commands"], M["git_commit"], dirty
    printf "| peers | %s; %s |\n", M["cp_version"], M["rsync_version"]
    printf "| load average | %s at start, %s at end, highest 1-min value before a run %.2f |\n", M["loadavg_start"], M["loadavg_end"], maxload
    print ""
  }
  print "Method: each command copies the whole data set into a **new, empty destination** on the same"
  print "file system (copies are deleted only after the last round); commands **alternate** within"
  print "each round, order rotated every round; the source is in the **page cache** (read just before"
  print "each run); `sync` runs and, as root, the page cache is dropped (`drop_caches`, then the source is read again), untimed, before every timed run. Wall time is measured until the command"
  print "exits (write-back after that is not counted, except by `--fsync=true`). Every copyd copy is"
  print "checked against its source (`rsync -an --delete -i` lists nothing, `diff -r --no-dereference`"
  print "finds nothing) and its no-op re-run must leave every inode, size and mtime as it was; all"
  print "checks are outside the timing. Figures: median [min–max] over the rounds."
  print ""
  if (length(F) > 0) {
    print "| data set | files | folders | symlinks | size |"
    print "| --- | ---: | ---: | ---: | ---: |"
    for (i = 1; i <= nk; i++) {
      k = kinds[i]
      printf "| %s | %s | %s | %s | %s |\n", k, commas(F[k]), commas(D[k]), commas(L[k]), human(B[k])
    }
    print ""
  }
  for (i = 1; i <= nk; i++) {
    k = kinds[i]
    sz = (k in F) ? sprintf(" — %s files, %s", commas(F[k]), human(B[k])) : ""
    printf "### %s%s\n\n", k, sz
    for (pi = 1; pi <= 2; pi++) {
      ph = (pi == 1) ? "copy" : "noop"
      g = k SUBSEP ph
      if (!(g in nc)) continue
      if (ph == "noop") print "No-op re-run (the destination is already a complete copy made by the same tool):\n"
      # fixed row order: cp -a, rsync -a, copyd, copyd --fsync=true, others as they came
      for (j = 2; j <= nc[g]; j++)
        for (i2 = j; i2 > 1 && rank(cmds[g, i2-1]) > rank(cmds[g, i2]); i2--) { t = cmds[g, i2]; cmds[g, i2] = cmds[g, i2-1]; cmds[g, i2-1] = t }
      # medians of the peers first
      delete med
      for (j = 1; j <= nc[g]; j++) { c = cmds[g, j]; med[c] = median(wall[g, c]) }
      hasc = 0
      for (j = 1; j <= nc[g]; j++) if (cmds[g, j] ~ /^copyd/) hasc = 1
      cpm = (hasc && ph == "copy" && ("cp" in med)) ? med["cp"] : ""
      rsm = !hasc ? "" : ("rsync" in med) ? med["rsync"] : (("rsync-noop" in med) ? med["rsync-noop"] : "")
      hdr = "| command | wall median (s) | wall min–max (s) | user+sys median (s) | peak RSS (MiB) |"
      sep = "| --- | ---: | ---: | ---: | ---: |"
      if (cpm != "") { hdr = hdr " vs cp -a |"; sep = sep " ---: |" }
      if (rsm != "") { hdr = hdr " vs rsync -a |"; sep = sep " ---: |" }
      print hdr; print sep
      summary = ""
      for (j = 1; j <= nc[g]; j++) {
        c = cmds[g, j]
        m = median(wall[g, c]); lo = LO; hi = HI; n = N
        u = median(cpu[g, c])
        line = sprintf("| `%s`%s | %s | %s–%s | %s | %.1f |", label[c], ((g, c) in bad) ? " (FAILED runs!)" : "",
          secs(m), secs(lo), secs(hi), secs(u), rss[g, c] / 1024)
        isc = (c ~ /^copyd/)
        if (cpm != "") line = line " " (isc ? ratio(cpm, m) : "") " |"
        if (rsm != "") line = line " " (isc ? ratio(rsm, m) : "") " |"
        print line
        if (isc) {
          s = ""
          if (cpm != "") s = words(cpm, m, "`cp -a`")
          if (rsm != "") s = s (s != "" ? " and " : "") words(rsm, m, "`rsync -a`" (ph == "noop" ? " (no-op)" : ""))
          if (s != "") summary = summary sprintf("%s`%s`%s is %s.", (summary != "" ? " " : ""), label[c], (ph == "noop" ? " (no-op)" : ""), s)
        }
      }
      print ""
      if (summary != "") { print summary; print "" }
    }
  }
  printf "_%d rounds per command; raw data: results.tsv (wall_s, user_s, sys_s, maxrss_kib, exit per run)._\n", (M["rounds"] != "" ? M["rounds"] : N)
}
' "$meta" "$sets" "$tsv"
