#!/usr/bin/env bash
# Runs a command (the test suite) with the system resolver pointed at 127.0.0.1, in a mount
# namespace of its own: a lookup the tests did not pin or send to their own DNS server (the
# `autodiscover` check walks DOMAIN, autodiscover.DOMAIN and the SRV record of every address it
# is given) fails at once on loopback instead of leaving the machine. /etc/hosts stays.
#   scripts/loopback-only.sh COMMAND [ARGS...]
set -euo pipefail
if [ "${EWSPROBE_LOOPBACK_ONLY:-}" = inside ]; then exec "$@"; fi
if unshare -m true 2>/dev/null; then
  conf=$(mktemp /tmp/ewsprobe-resolv.XXXXXX)
  # Kept while the command runs: a test's own namespace mounts over /etc/resolv.conf again, which
  # the kernel refuses once the bound file is unlinked.
  trap 'rm -f "$conf"' EXIT
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$conf"
  chmod 644 "$conf"
  # shellcheck disable=SC2016
  EWSPROBE_LOOPBACK_ONLY=inside unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && shift 0 && exec "$@"' "$conf" "$@"
  exit
fi
echo "loopback-only: cannot make a mount namespace here (not root?): the tests use the system resolver" >&2
exec "$@"
