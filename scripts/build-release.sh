#!/usr/bin/env bash
# The one release build: the binary the Debian package ships, the demo runs and the tests that
# run `ewsprobe` exercise (.build-rel/release/ewsprobe). Every caller builds with exactly these
# flags into the same scratch path, so a second call only relinks what changed.
# With --asan: the same optimised build under AddressSanitizer (.build-asan), for the sanitizer
# run of the end-to-end tests (the Swift runtime shared, as the sanitizer needs).
# Env: EWSPROBE_RELEASE_SCRATCH (default .build-rel).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${EWSPROBE_RELEASE_SCRATCH:-.build-rel}
flags=(--static-swift-stdlib -Xlinker -z -Xlinker now)
if [ "${1:-}" = "--asan" ]; then
  scratch=.build-asan
  flags=(-Xswiftc -sanitize=address)
fi
# With --curl-only: the same release build with every exchange on libcurl (.build-curlonly), the
# baseline Benchmarks/clients.sh measures the direct client against.
if [ "${1:-}" = "--curl-only" ]; then
  scratch=.build-curlonly
  flags+=(-Xswiftc -DEWSPROBE_CURL_ONLY)
fi
# Each scratch path resolves on its own; seeding it from the debug build's checkouts keeps it
# offline and skips cloning every dependency again.
if [ ! -d "$scratch/checkouts" ] && [ -d .build/checkouts ] && [ -f .build/workspace-state.json ]; then
  mkdir -p "$scratch"
  cp -a .build/checkouts .build/workspace-state.json "$scratch/"
  [ -d .build/repositories ] && cp -a .build/repositories "$scratch/"
fi
swift build -c release "${flags[@]}" --scratch-path "$scratch" --product ewsprobe >&2
echo "$scratch/release/ewsprobe"
