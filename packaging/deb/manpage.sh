#!/usr/bin/env bash
# Writes copyd(1) to stdout from the usage text that "copyd help" prints,
# so the manual page never disagrees with the binary.
#
# Usage: bash packaging/deb/manpage.sh COPYD VERSION DATE
#   COPYD    a copyd binary that runs on this machine
#   VERSION  the package version; DATE the page's date (YYYY-MM-DD)
set -euo pipefail
copyd=$1 version=$2 date=$3

# roff: a backslash is \e, "-" in options is a minus (\-), and a line that
# starts with "." or "'" would be a request.
roff() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"; }

cat <<HEAD
.TH COPYD 1 "$date" "copyd $version" "User Commands"
.SH NAME
copyd \- keep backup folders in step with their sources
.SH SYNOPSIS
.B copyd
.I command
.RI [ options ]
.SH DESCRIPTION
.nf
HEAD
"$copyd" help | roff
cat <<'TAIL'
.fi
.SH FILES
.TP
.I /etc/copyd/config.yaml
the configuration: the folder pairs and settings, every key explained in
its comments
.TP
.I /lib/systemd/system/copyd.service
the service; enable it with
.B systemctl enable \-\-now copyd
once the configuration lists its pairs; its log is in
.B journalctl \-u copyd
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1),
https://github.com/copyd/copyd
TAIL
