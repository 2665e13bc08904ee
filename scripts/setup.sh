#!/usr/bin/env bash
# Installs what ewsprobe builds against (libcurl, OpenSSL, c-ares) and, with --test, the real servers
# the tests start on loopback; with --package-build, what scripts/package-deb.sh needs; with
# --package, that and what scripts/package-test.sh uses.
# Safe to run again: it installs only what is missing.
set -euo pipefail
packages=(libcurl4-openssl-dev libssl-dev libc-ares-dev libcrypt-dev libldap-dev pkg-config)
if [ "${1:-}" = "--test" ]; then
  packages+=(nginx-light dnsmasq-base prometheus haproxy tinyproxy-bin squid openssl python3 python3-pip curl apache2-utils chromium)
  # The directory peers: OpenLDAP's slapd and ldap-utils (the oracle), Samba as an AD domain
  # controller, faketime for a directory with a skewed clock.
  packages+=(slapd ldap-utils samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldb-tools faketime)
fi
if [ "${1:-}" = "--package-build" ] || [ "${1:-}" = "--package" ]; then
  # What scripts/package-deb.sh runs: dpkg-deb and dpkg-shlibdeps, strip, chrpath, help2man.
  packages+=(dpkg-dev binutils chrpath help2man)
fi
if [ "${1:-}" = "--package" ]; then
  # systemd for systemd-analyze (not as PID 1), man-db to open the man page, debootstrap for the
  # minimal root, prometheus for promtool; adduser and ca-certificates are in the package's Depends.
  packages+=(lintian systemd man-db debootstrap curl prometheus python3 python3-pip
    adduser ca-certificates)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${1:-}" = "--test" ]; then
  # pyspnego (PyPI) is the independent NTLM implementation behind the lb_affinity lab backends.
  if ! python3 -c 'import spnego' >/dev/null 2>&1; then
    python3 -m pip install --quiet pyspnego 2>/dev/null || python3 -m pip install --quiet --break-system-packages pyspnego
  fi
  # exchangelib (PyPI): the independent Autodiscover client the autodiscover tests compare with;
  # cryptography (PyPI): what revocation_lab.py makes the OCSP responses openssl's CLI cannot with.
  if ! python3 -c 'import exchangelib, cryptography' >/dev/null 2>&1; then
    python3 -m pip install --quiet exchangelib cryptography 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages exchangelib cryptography
  fi
fi
if [ "${1:-}" = "--test" ]; then
  # The cloud lab's authority is built on Authlib (PyPI); msal and google-auth (PyPI) are the
  # independent token clients the cloud connector tests compare with.
  if ! python3 -c 'import authlib, msal, google.auth, requests' >/dev/null 2>&1; then
    python3 -m pip install --quiet authlib msal google-auth requests 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages authlib msal google-auth requests
  fi
fi
if [ "${1:-}" = "--package" ]; then
  # kubernetes-validate (PyPI) carries the Kubernetes API schemas: validation needs no cluster.
  if ! command -v kubernetes-validate >/dev/null 2>&1; then
    python3 -m pip install --quiet kubernetes-validate 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages kubernetes-validate
  fi
fi
