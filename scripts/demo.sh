#!/usr/bin/env bash
# The main job on the embedded default: a simulated EWS site on loopback, probed by `serve`.
# Open http://127.0.0.1:9905/ (status page) and http://127.0.0.1:9905/metrics.
# It runs the release build the package ships (scripts/build-release.sh), as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
binary=$(scripts/build-release.sh)
exec "$binary" demo "$@"
