#!/usr/bin/env bash
# CI for the Debian package (packaging/): builds it, lints it, installs it,
# checks what it installed, verifies the systemd unit, upgrades it in place
# (the admin's config survives), removes and purges it. Needs root and a
# Debian-like machine without copyd installed; installs lintian and
# systemd (for systemd-analyze) itself. The unit cannot be started here:
# systemd is not PID 1 in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
PATH="$PATH:$(go env GOPATH)/bin"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "package-check: $*" >&2; exit 1; }
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then fail "run as root: the check installs and removes the package"; fi
if dpkg-query -W -f='${Status}' copyd 2>/dev/null | grep -q 'installed\|config-files'; then
  fail "copyd is already installed here; this check installs and purges it: dpkg -P copyd first"
fi

# On a fresh machine apt-get (lintian; systemd for systemd-analyze) runs
# while the package builds: both mostly wait for downloads.
apt_pid=
apt_log=$(mktemp)
if ! command -v lintian >/dev/null || ! command -v systemd-analyze >/dev/null; then
  step "install lintian and systemd (in the background)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian systemd; } >"$apt_log" 2>&1 &
  apt_pid=$!
fi

if command -v shellcheck >/dev/null; then
  step "shellcheck (build and maintainer scripts)"
  shellcheck packaging/build-deb.sh packaging/deb/*.sh packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm .ci/package-check.sh
else
  step "sh -n (maintainer scripts; shellcheck is not installed)"
  for s in packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm; do sh -n "$s"; done
fi

step "build the package"
deb=$(bash packaging/build-deb.sh)
version=$(dpkg-deb -f "$deb" Version)
echo "$deb"
if [ -n "$apt_pid" ] && ! wait "$apt_pid"; then
  cat "$apt_log"
  fail "apt-get install lintian systemd failed"
fi
rm -f "$apt_log"

step "contents (dpkg-deb -I, -c)"
dpkg-deb -I "$deb"
listing=$(dpkg-deb -c "$deb")
echo "$listing"
for f in ./usr/bin/copyd ./etc/copyd/config.yaml ./lib/systemd/system/copyd.service \
  ./usr/share/doc/copyd/copyright ./usr/share/doc/copyd/changelog.gz \
  ./usr/share/man/man1/copyd.1.gz ./usr/share/lintian/overrides/copyd; do
  grep -q " $f\$" <<<"$listing" || fail "$f is not in the package"
done
ctl=$(mktemp -d)
dpkg-deb -e "$deb" "$ctl"
[ "$(cat "$ctl/conffiles")" = /etc/copyd/config.yaml ] || fail "conffiles should list /etc/copyd/config.yaml alone, has: $(cat "$ctl/conffiles")"
rm -rf "$ctl"

step "lintian (errors fail; warnings and overrides are shown)"
rc=0
out=$(lintian --pedantic --display-info --show-overrides "$deb" 2>&1) || rc=$?
echo "$out"
# Exit code 1 is a lintian failure; 2 only means tags at --fail-on level,
# which also counts overridden ones: the E: lines decide.
[ "$rc" != 1 ] || fail "lintian did not run"
if grep -q '^E:' <<<"$out"; then fail "lintian reports errors"; fi
echo "lintian: $(grep -c '^E:' <<<"$out" || true) errors, $(grep -c '^W:' <<<"$out" || true) warnings"

# The commented example pairs in the shipped config must stay valid: the
# admin is told to uncomment them. Sources and destinations go to a temp dir.
step "the shipped config's example pairs are valid once uncommented"
ex=$(mktemp -d)
mkdir -p "$ex/videos" "$ex/alice"
sed -e '/^pairs: \[\]$/d' -e '/^# pairs:/,$ { s/^# pairs:/pairs:/; s/^#   /  /; s/^#$//; }' \
  -e "s|/srv/videos|$ex/videos|; s|/home/alice|$ex/alice|; s|/mnt/backup|$ex/backup|g" \
  packaging/config.yaml >"$ex/config.yaml"
dist/build/copyd check -c "$ex/config.yaml" >/dev/null
[ "$(grep -c '^pair "' < <(dist/build/copyd check -c "$ex/config.yaml"))" = 2 ] || fail "the example should have 2 pairs"
rm -rf "$ex"

# policy-rc.d (if any) would block service starts; the package starts
# nothing anyway, and without systemd as PID 1 its scripts skip systemctl.
step "install (dpkg -i)"
out=$(dpkg -i "$deb" </dev/null 2>&1)
echo "$out"
grep -q 'systemctl enable --now copyd' <<<"$out" || fail "postinst should tell the admin how to start copyd"
for f in /usr/bin/copyd /etc/copyd/config.yaml /lib/systemd/system/copyd.service /usr/share/doc/copyd/copyright; do
  [ -f "$f" ] || fail "$f was not installed"
done
[ "$(stat -c %a /usr/bin/copyd)" = 755 ] || fail "/usr/bin/copyd mode $(stat -c %a /usr/bin/copyd), want 755"
[ "$(/usr/bin/copyd version)" = "copyd $version" ] || fail "copyd version says '$(/usr/bin/copyd version)', want 'copyd $version'"
/usr/bin/copyd version

step "copyd check -c /etc/copyd/config.yaml (no pairs: valid, nothing to do)"
/usr/bin/copyd check -c /etc/copyd/config.yaml

step "systemd-analyze verify /lib/systemd/system/copyd.service"
# Prints nothing and exits 0 for a good unit; warnings about other units
# on this machine are filtered out.
rc=0
out=$(systemd-analyze verify /lib/systemd/system/copyd.service 2>&1) || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "systemd-analyze verify failed"
if grep -q 'copyd' <<<"$out"; then fail "systemd-analyze has remarks about copyd.service"; fi

step "upgrade in place keeps the admin's config (conffile)"
echo "# edited by the admin" >>/etc/copyd/config.yaml
dpkg -i "$deb" </dev/null
grep -q '^# edited by the admin$' /etc/copyd/config.yaml || fail "reinstalling replaced the edited /etc/copyd/config.yaml"

step "remove (dpkg -r): program gone, config kept"
dpkg -r copyd </dev/null
for f in /usr/bin/copyd /lib/systemd/system/copyd.service /usr/share/doc/copyd /usr/share/man/man1/copyd.1.gz; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg -r"
done
[ -f /etc/copyd/config.yaml ] || fail "dpkg -r removed the conffile; only purge should"
# What "systemctl enable copyd" would have made: purge must remove it.
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /lib/systemd/system/copyd.service /etc/systemd/system/multi-user.target.wants/copyd.service
# What the service keeps (StateDirectory=copyd): purge must remove it too.
mkdir -p /var/lib/copyd && : >/var/lib/copyd/backup-0123456789abcdef.db

step "purge (dpkg -P): config, /etc/copyd, the indexes and enablement links gone"
dpkg -P copyd </dev/null
for f in /etc/copyd /var/lib/copyd /etc/systemd/system/multi-user.target.wants/copyd.service; do
  if [ -e "$f" ] || [ -L "$f" ]; then fail "$f is still there after dpkg -P"; fi
done
if dpkg-query -W -f='${Status}' copyd 2>/dev/null | grep -q 'installed\|config-files'; then fail "dpkg still knows copyd"; fi

step "package check passed in $(($(date +%s) - start)) s"
