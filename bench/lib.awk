# bench/lib.awk — the awk functions bench/report.sh and bench/live-report.sh
# share; each puts this file's text before its own program.
function commas(n,   s) {
  s = sprintf("%d", n)
  while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([,]|$)/, ",&", s)
  return s
}
# median of the space-separated numbers in list ("" for none); sets LO, HI, N
function median(list,   a, n, i, j, t) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++)
    for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  LO = a[1]; HI = a[n]; N = n
  if (n == 0) return ""
  return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n/2] + a[n/2 + 1]) / 2
}
function secs(x) { return x < 1 ? sprintf("%.3f", x) : (x < 10 ? sprintf("%.2f", x) : sprintf("%.1f", x)) }
