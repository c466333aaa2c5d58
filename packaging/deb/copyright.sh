#!/usr/bin/env bash
# Writes /usr/share/doc/copyd/copyright (machine-readable format) for the
# binary BIN to stdout: copyd's own terms, then the notice and license of
# the Go standard library and of every module linked into BIN, as listed by
# "go version -m". MIT- and BSD-style licenses require their notice to ship
# with binaries, so the texts are copied verbatim from the module cache;
# Apache-2.0 points to /usr/share/common-licenses and carries any NOTICE.
#
# Usage: bash packaging/deb/copyright.sh BIN   (from the repository root,
# after the modules are downloaded, as building BIN does)
set -euo pipefail
bin=$1

year=$(git log -1 --format=%cd --date=format:%Y 2>/dev/null || date -u +%Y)

# dep5text FILE: FILE as the body of a DEP-5 field (one leading space, "."
# for empty lines, no trailing blank lines).
dep5text() {
  sed -e 's/[[:space:]]*$//' "$1" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' \
    | sed -e '/./,$!d' -e 's/^$/./' -e 's/^/ /'
}

# shortname FILE: the DEP-5 short name of the license text in FILE.
shortname() {
  local f=$1 names=()
  if grep -q 'Permission is hereby granted, free of charge' "$f"; then names+=(Expat); fi
  if grep -q 'Redistribution and use in source and binary forms' "$f"; then
    if grep -qi 'neither the name\|names of its contributors\|name of the copyright holder' "$f"; then
      names+=(BSD-3-clause)
    else
      names+=(BSD-2-clause)
    fi
  fi
  if grep -q 'Permission to use, copy, modify, and/or distribute' "$f"; then names+=(ISC); fi
  if grep -q "provided 'as-is'" "$f"; then names+=(Zlib); fi
  if grep -q 'Mozilla Public License' "$f"; then names+=(MPL-2.0); fi
  if grep -q 'Apache License' "$f" && grep -q 'Version 2.0' "$f"; then names+=(Apache-2.0); fi
  if [ ${#names[@]} = 0 ]; then names=(other); fi
  local IFS=' ' joined
  joined="${names[*]}"
  echo "${joined// / and }"
}

# holders FILE DEFAULT: the copyright lines of FILE, or DEFAULT.
holders() {
  local lines
  lines=$(grep -E '^[[:space:]]*(Copyright|©)' "$1" | grep -v 'copyright notice\|Copyright owner\|copyright owner' \
    | sed -e 's/^[[:space:]]*//' -e 's/^Copyright[[:space:]]*\(©\|(c)\|(C)\)\?[[:space:]]*//' -e 's/[[:space:]]*$//' | sort -u || true)
  if [ -z "$lines" ]; then lines=$2; fi
  printf '%s\n' "$lines" | sed -e '1!s/^/ /'
}

# paragraph NAME VERSION DIR: the Files paragraph for the module in DIR.
paragraph() {
  local name=$1 version=$2 dir=$3 lic notice
  lic=$(find "$dir" -maxdepth 1 -type f -iregex '.*/\(licen[cs]e\|copying\)\(\.txt\|\.md\)?' -printf '%f\n' | sort | head -1)
  if [ -z "$lic" ]; then
    echo "copyright.sh: no license file in $dir" >&2
    return 1
  fi
  local short
  short=$(shortname "$dir/$lic")
  printf '\nFiles: %s/*\n' "$name"
  printf 'Copyright: %s\n' "$(holders "$dir/$lic" "the $name authors")"
  printf 'Comment: %s %s, compiled into /usr/bin/copyd.\n' "$name" "$version"
  notice=$(find "$dir" -maxdepth 1 -type f -regex '.*/NOTICE\(\.txt\|\.md\)?' -printf '%f\n' | sort | head -1)
  if [ -n "$notice" ]; then
    printf ' .\n Its NOTICE file:\n .\n'
    dep5text "$dir/$notice"
  fi
  if [ "$short" = Apache-2.0 ] && head -c 200 "$dir/$lic" | grep -q 'Apache License'; then
    # the plain Apache-2.0 text: Debian ships it once for all
    printf 'License: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n'
  elif grep -q 'TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION' "$dir/$lic"; then
    # several licenses in one file, the Apache-2.0 text among them
    # (klauspost/compress): the other texts verbatim, Apache-2.0 by
    # reference, as lintian asks (copyright-file-contains-full-apache-2-license)
    printf 'License: %s\n' "$short"
    withoutApache "$dir/$lic" > "$tmpdir/lic"
    dep5text "$tmpdir/lic"
    printf ' .\n The Apache License 2.0 part: on Debian systems its full text is in\n /usr/share/common-licenses/Apache-2.0.\n'
  else
    printf 'License: %s\n' "$short"
    dep5text "$dir/$lic"
  fi
}

# withoutApache FILE: FILE without the Apache License 2.0 text in it (from
# its "Apache License" title through the end of its appendix).
withoutApache() {
  awk '
    /^[[:space:]]*Apache License[[:space:]]*$/ { skip = 1 }
    !skip { print }
    skip && /limitations under the License\./ { skip = 0 }
  ' "$1"
}
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT

cat <<HEAD
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: copyd
Source: https://github.com/copyd/copyd
Comment: /usr/bin/copyd is a static Go binary: it contains the Go standard
 library and the Go modules listed below, with their licenses.

Files: *
Copyright: ${year} The copyd authors
License: TBD
 The copyd repository has no license file yet. Until one is chosen, no
 license is granted beyond what the authors state elsewhere.

Files: go/*
Copyright: $(holders "$(go env GOROOT)/LICENSE" "The Go Authors")
Comment: The Go standard library and runtime ($(go version "$bin" | awk '{print $2}')), compiled into /usr/bin/copyd.
License: $(shortname "$(go env GOROOT)/LICENSE")
$(dep5text "$(go env GOROOT)/LICENSE")
HEAD

# "dep" lines are linked modules; a "=>" line right after one is its replacement.
go version -m "$bin" | awk '$1 == "dep" || $1 == "=>" { print $1, $2, $3 }' |
  awk '$1 == "dep" { if (p) print p; p = $2 " " $3; next } $1 == "=>" { p = $2 " " $3 } END { if (p) print p }' |
  while read -r path version; do
    if [ -d "$path" ]; then
      dir=$path # a local replacement
    else
      dir=$(go mod download -json "$path@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    fi
    paragraph "$path" "$version" "$dir"
  done
