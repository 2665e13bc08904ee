#!/usr/bin/env bash
# Builds dist/ewsprobe_VERSION_ARCH.deb with dpkg-deb: the release binary with the Swift runtime
# linked in, the hardened systemd unit, the example configuration (a conffile), man page and
# shell completions generated from the argument parser, the dashboards and alert rules.
# Needs: the Swift toolchain, dpkg-dev, binutils, chrpath, help2man (installed here when missing,
# by scripts/setup.sh --package-build).
# Env: EWSPROBE_RELEASE_SCRATCH (default .build-rel), EWSPROBE_DIST (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${EWSPROBE_RELEASE_SCRATCH:-.build-rel}
dist=${EWSPROBE_DIST:-dist}

# The packaging tools first: a missing one must not surface after a nine-minute build.
# EWSPROBE_NO_INSTALL=1 only reports what is missing (the package test checks that order).
tools=(dpkg-deb dpkg-shlibdeps strip chrpath help2man gzip md5sum)
missing_tools() { for t in "${tools[@]}"; do command -v "$t" >/dev/null || echo "$t"; done; }
if [ -n "$(missing_tools)" ] && [ "${EWSPROBE_NO_INSTALL:-}" != 1 ]; then
  scripts/setup.sh --package-build
fi
if [ -n "$(missing_tools)" ]; then
  echo "package-deb: missing $(missing_tools | tr '\n' ' ')(scripts/setup.sh --package-build installs them)" >&2
  exit 1
fi

bin=$(scripts/build-release.sh)

# The point of --static-swift-stdlib: no Swift shared library may be needed at run time.
if ldd "$bin" | grep -E 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|/opt/swift|not found'; then
  echo "package-deb: $bin needs a Swift runtime library or a missing one (above)" >&2
  exit 1
fi

version=$("$bin" --version)
arch=$(dpkg --print-architecture)
# Timestamps from the commit, so two builds of one commit give the same files (dpkg-deb,
# gzip -n and the changelog use it).
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The tree dpkg-shlibdeps expects: debian/control beside debian/PACKAGE.
root="$work/src/debian/ewsprobe"
mkdir -p "$root/DEBIAN"
printf 'Source: ewsprobe\n\nPackage: ewsprobe\nArchitecture: any\n' >"$work/src/debian/control"
doc="$root/usr/share/doc/ewsprobe"

install -D -m 0755 "$bin" "$root/usr/bin/ewsprobe"
# Symbols are not shipped (lintian: unstripped-binary-or-object); the build tree keeps them.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/ewsprobe"
# SwiftPM links with RUNPATH $ORIGIN, which would let a library beside /usr/bin/ewsprobe be loaded.
chrpath --delete "$root/usr/bin/ewsprobe" >/dev/null
install -D -m 0644 deploy/debian/ewsprobe.yml "$root/etc/ewsprobe/ewsprobe.yml"
# Debian 12 ships units in /lib (usrmerge moratorium).
install -D -m 0644 deploy/debian/ewsprobe.service "$root/lib/systemd/system/ewsprobe.service"
install -d "$root/usr/share/ewsprobe"
install -m 0644 dashboards/* "$root/usr/share/ewsprobe/"
install -D -m 0644 probes/modules.yml "$doc/examples/modules.yml"
install -D -m 0644 probes/targets-example.yml "$doc/examples/targets-example.yml"
install -D -m 0644 deploy/debian/lintian-overrides "$root/usr/share/lintian/overrides/ewsprobe"
gzip -9nc README.md >"$work/README.md.gz" && install -D -m 0644 "$work/README.md.gz" "$doc/README.md.gz"

# Shell completions from the argument parser, at the paths bash-completion, zsh and fish load.
pkgbin="$root/usr/bin/ewsprobe"
# bash-completion sources the file: no #! line (lintian: bash-completion-with-hashbang).
"$pkgbin" --generate-completion-script bash | sed '1{/^#!/d}' >"$work/bash"
"$pkgbin" --generate-completion-script zsh >"$work/zsh"
"$pkgbin" --generate-completion-script fish >"$work/fish"
install -D -m 0644 "$work/bash" "$root/usr/share/bash-completion/completions/ewsprobe"
install -D -m 0644 "$work/zsh" "$root/usr/share/zsh/vendor-completions/_ewsprobe"
install -D -m 0644 "$work/fish" "$root/usr/share/fish/vendor_completions.d/ewsprobe.fish"

# Man page: help2man over --help, plus each subcommand's own --help (verbatim, roff-escaped)
# so the options of probe and serve are in it too.
roff_verbatim() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"; }
{
  echo "[COMMANDS]"
  for sub in probe serve check-config demo; do
    echo ".SS \"ewsprobe $sub\""
    echo ".nf"
    "$pkgbin" help "$sub" | roff_verbatim
    echo ".fi"
  done
  echo "[FILES]"
  echo ".TP"
  echo ".I /etc/ewsprobe/ewsprobe.yml"
  echo "configuration read by the systemd unit ewsprobe.service"
  echo ".TP"
  echo ".I /usr/share/ewsprobe/"
  echo "Prometheus alert rules and their tests, scrape configuration, Grafana dashboard"
  echo ".TP"
  echo ".I /usr/share/doc/ewsprobe/examples/"
  echo "the shipped modules and example targets"
  echo "[SEE ALSO]"
  echo "The full reference (configuration keys, checks and reason codes, metrics) is"
  echo ".IR /usr/share/doc/ewsprobe/README.md.gz ."
} >"$work/man.h2m"
help2man --no-info --no-discard-stderr --section=1 --source="ewsprobe $version" \
  --version-string="$version" --name="connection-health prober and Prometheus exporter for Exchange Web Services" \
  --include="$work/man.h2m" --output="$work/ewsprobe.1" "$pkgbin"
gzip -9nc "$work/ewsprobe.1" >"$work/ewsprobe.1.gz"
install -D -m 0644 "$work/ewsprobe.1.gz" "$root/usr/share/man/man1/ewsprobe.1.gz"

# copyright: ewsprobe itself, then every Swift package the binary was built with (statically
# linked), each with the license file it ships.
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: ewsprobe"
  echo "Comment: Built from commit $commit. The Swift packages below are those"
  echo " Package.resolved pins; /usr/bin/ewsprobe links what it uses of them statically,"
  echo " with the Swift runtime (Apache-2.0 with Runtime Library Exception)."
  echo
  echo "Files: *"
  echo "Copyright: the ewsprobe authors"
  echo "License: none-stated"
  echo " The ewsprobe sources do not state a license."
  for dir in "$scratch"/checkouts/*/; do
    name=$(basename "$dir")
    lic=$(find "$dir" -maxdepth 1 \( -iname 'LICENSE*' -o -iname 'COPYING*' \) | sort | head -n1)
    [ -n "$lic" ] || continue
    echo
    echo "Files: ${scratch#./}/checkouts/$name/*"
    echo "Copyright: the $name authors"
    if grep -q 'Apache License' "$lic" && grep -q 'Version 2.0' "$lic"; then
      # The full text is in common-licenses; Apache-2.0 section 4(d) wants the NOTICE file.
      echo "License: Apache-2.0"
      echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
      notice=$(find "$dir" -maxdepth 1 -iname 'NOTICE*' | sort | head -n1)
      if [ -n "$notice" ]; then
        echo " ."
        echo " $name's NOTICE:"
        sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$notice"
      fi
    else
      echo "License: $name-license"
      sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$lic"
    fi
  done
} >"$work/copyright"
install -D -m 0644 "$work/copyright" "$doc/copyright"

{
  echo "ewsprobe ($version) unstable; urgency=medium"
  echo
  echo "  * Package built from commit $commit."
  echo
  echo " -- ewsprobe maintainers <maintainers@ewsprobe.invalid>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$work/changelog.gz"
install -D -m 0644 "$work/changelog.gz" "$doc/changelog.gz"

# Depends from the binary's ELF needs (shlibs/symbols files of the installed libraries), so a
# new linked library (libldap, ...) joins the list without editing this script.
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O debian/ewsprobe/usr/bin/ewsprobe | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package-deb: dpkg-shlibdeps found no dependency" >&2; exit 1; }
# adduser for postinst; ca-certificates: the tls and ews_login checks verify against the system's
# public roots, and without them every certificate is untrusted; procps for the unit's
# ExecReload (/bin/kill), which a minimal root does not have.
depends="adduser, ca-certificates, procps, $shlibs"

install -d "$root/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
echo /etc/ewsprobe/ewsprobe.yml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<EOF
Package: ewsprobe
Version: $version
Architecture: $arch
Maintainer: ewsprobe maintainers <maintainers@ewsprobe.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Description: connection-health prober and Prometheus exporter for Exchange Web Services
 ewsprobe checks continuously what cloud mail-security services need from
 on-premises Exchange Web Services: DNS, TCP on every node, a trusted
 certificate, Basic authentication offered, no forms login in front of EWS, a
 sticky load balancer and a service account that logs in and impersonates;
 and the directory (LDAPS or StartTLS, the service account's bind, the
 mailbox-check entry, password expiry).
 .
 The package runs "ewsprobe serve" as a hardened systemd service on loopback
 and ships Prometheus alert rules and a Grafana dashboard.
EOF
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles" "$root/DEBIAN/control"

mkdir -p "$dist"
deb="$dist/ewsprobe_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "package-deb: $deb ($(du -k "$deb" | cut -f1) KiB; binary $(du -k "$root/usr/bin/ewsprobe" | cut -f1) KiB stripped)"
echo "package-deb: Depends: $depends"
# lintian where installed: errors and warnings fail the build, infos are shown.
if command -v lintian >/dev/null; then
  # spelling-error-in-binary: dozens of infos, all from the linked libraries' strings.
  lintian --display-level '>=info' --suppress-tags spelling-error-in-binary "$deb" | tee "$work/lintian.txt" || true
  if grep -q '^[EW]:' "$work/lintian.txt"; then
    echo "package-deb: lintian reports errors or warnings (above)" >&2
    exit 1
  fi
fi
