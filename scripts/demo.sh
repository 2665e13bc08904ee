#!/usr/bin/env bash
# The main job on the embedded default: a simulated EWS site on loopback, probed by `serve`.
# Open http://127.0.0.1:9905/ (status page) and http://127.0.0.1:9905/metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product ewsprobe
exec .build/release/ewsprobe demo "$@"
