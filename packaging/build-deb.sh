#!/usr/bin/env bash
# Builds the copyd Debian package: dist/copyd_<version>_<arch>.deb, from the
# repository root or anywhere else:
#
#     bash packaging/build-deb.sh
#
# Prints the package's path on stdout (progress goes to stderr). dist/ is
# ignored by git.
#
# Environment (all optional):
#   VERSION       Debian version of the package. Default: from git describe:
#                 tag v1.2.3 on HEAD -> 1.2.3; commits after it ->
#                 1.2.3+git<UTC commit time>.<sha>; no tag ->
#                 ${BASE_VERSION:-0.0.0}~git<UTC commit time>.<sha> (sorts
#                 before BASE_VERSION itself).
#   GOARCH        target architecture (default: the host's Go arch).
#   MAINTAINER    "Name <email>" for the control file.
#
# Installs nfpm v2.45.2 with go install when it is missing (later versions
# need modules the proxy refuses; see MACHINE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
PATH="$PATH:$(go env GOPATH)/bin"

nfpm_version=v2.45.2
export GOARCH=${GOARCH:-$(go env GOARCH)}
export MAINTAINER=${MAINTAINER:-copyd maintainers <maintainers@copyd.invalid>}

sha=$(git rev-parse --short=7 HEAD)
# The commit time, not the build time: the same commit gives the same
# version, and snapshots sort in commit order.
stamp=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)
if [ -z "${VERSION:-}" ]; then
  if tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
    base=${tag#v}
    if [ "$(git rev-list -n1 "$tag")" = "$(git rev-parse HEAD)" ]; then
      VERSION=$base
    else
      VERSION=$base+git$stamp.$sha
    fi
  else
    VERSION=${BASE_VERSION:-0.0.0}~git$stamp.$sha
  fi
  VERSION=${VERSION//-/\~} # a pre-release tag (v1.0.0-rc1) sorts before its release
fi
export VERSION
# Debian upstream version without revision: digit first, then
# alphanumerics and . + ~ (no "-": there is no Debian revision).
if ! [[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
  echo "build-deb.sh: VERSION=$VERSION is not a valid Debian version" >&2
  exit 2
fi

build=dist/build
rm -rf "$build"
mkdir -p "$build"

# go install puts nfpm in GOBIN, else GOPATH/bin, built for this machine
# (GOARCH may name the target). "nfpm --version" says "dev" for such a
# build, so the module version is read from the binary.
nfpm=$(go env GOBIN)
nfpm=${nfpm:-$(go env GOPATH)/bin}/nfpm
nfpm_pid=
if ! go version -m "$nfpm" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]].*[[:space:]]${nfpm_version}[[:space:]]"; then
  echo "installing nfpm $nfpm_version" >&2
  GOARCH='' go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version" >"$build/nfpm-install.log" 2>&1 &
  nfpm_pid=$!
fi

echo "building copyd $VERSION for linux/$GOARCH" >&2
CGO_ENABLED=0 GOOS=linux go build -trimpath \
  -ldflags "-s -w -X main.buildVersion=$VERSION" \
  -o "$build/copyd" ./cmd/copyd

bash packaging/deb/copyright.sh "$build/copyd" > "$build/copyright"

# The manual page comes from "copyd help", run by a binary for this machine.
host=$build/copyd
if [ "$GOARCH" != "$(GOARCH='' go env GOARCH)" ]; then
  host=$build/copyd-host
  GOARCH='' go build -o "$host" ./cmd/copyd
fi
bash packaging/deb/manpage.sh "$host" "$VERSION" "$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%d HEAD)" |
  gzip -9n > "$build/copyd.1.gz"

# A Debian changelog with one entry for this build (a native package:
# /usr/share/doc/copyd/changelog.gz).
dirty=
if ! git diff --quiet HEAD -- 2>/dev/null; then dirty=" (with uncommitted changes)"; fi
{
  printf 'copyd (%s) unstable; urgency=medium\n\n' "$VERSION"
  printf '  * Built from commit %s%s.\n' "$sha" "$dirty"
  printf '    The changes are in the git history:\n'
  printf '    https://github.com/copyd/copyd/commits/%s\n\n' "$(git rev-parse HEAD)"
  printf ' -- %s  %s\n' "$MAINTAINER" "$(LC_ALL=C TZ=UTC git log -1 --format=%cd --date=format-local:'%a, %d %b %Y %H:%M:%S +0000' HEAD)"
} | gzip -9n > "$build/changelog.gz"

# nfpm is needed only at the end: its install (mostly downloads on a fresh
# machine) runs while copyd builds.
if [ -n "$nfpm_pid" ] && ! wait "$nfpm_pid"; then
  cat "$build/nfpm-install.log" >&2
  echo "build-deb.sh: go install nfpm@$nfpm_version failed" >&2
  exit 1
fi

# Files in the package get the commit's time (nfpm reads this).
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export SOURCE_DATE_EPOCH
deb=dist/copyd_${VERSION}_${GOARCH}.deb
rm -f dist/copyd_*.deb # dist/ holds this build's package only
"$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$deb" >/dev/null
echo "$deb"
