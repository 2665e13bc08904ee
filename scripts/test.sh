#!/usr/bin/env bash
# Runs every test: installs the test peers, builds the test bundle and the release binary the
# package ships, runs the suite with the tests that start `ewsprobe` running that release binary,
# then the sanitizer run: the end-to-end suites again on an optimised AddressSanitizer build.
# EWSPROBE_SKIP_ASAN=1 skips the sanitizer run (a quicker local loop; CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# A layer importing one it does not declare is an error, not a build-order accident.
swift build --build-tests --explicit-target-dependency-import-check error
# The binary users run: the same build scripts/package-deb.sh packages (built once, reused).
EWSPROBE_BINARY=$(scripts/build-release.sh)
export EWSPROBE_BINARY
echo "test: the tests that run ewsprobe run $EWSPROBE_BINARY"
status=0
# No lookup leaves the machine: the system resolver is 127.0.0.1 for the tests (loopback-only.sh).
scripts/loopback-only.sh swift test --skip-build --no-parallel 2>&1 | tee .build/test-output.txt || status=$?
[ "$status" -eq 0 ] || exit "$status"
[ "${EWSPROBE_SKIP_ASAN:-}" = 1 ] && exit 0

# The sanitizer run: lifetime bugs in how Swift hands memory to OpenSSL, libcurl, c-ares and
# libldap (a pointer used after its closure returned) show only in optimised builds. Every
# report is written to its own file; any file at all fails the run, whatever the test said.
asan_binary=$(scripts/build-release.sh --asan)
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
echo "test: sanitizer run on $asan_binary"
# detect_leaks=0: the process-lifetime caches (trust stores, TLS contexts) are not leaks.
EWSPROBE_BINARY=$asan_binary ASAN_OPTIONS="detect_leaks=0:log_path=$reports/asan:exitcode=86" \
  scripts/loopback-only.sh swift test --skip-build --no-parallel \
  --filter 'ShippedBinaryTests|CommandLineTests|SecretLeakTests|ResolverTests|ServeTests' 2>&1 |
  tee .build/test-output-asan.txt || status=$?
if compgen -G "$reports/asan*" >/dev/null; then
  echo "test: AddressSanitizer reported:" >&2
  cat "$reports"/asan* >&2
  exit 1
fi
exit "$status"
