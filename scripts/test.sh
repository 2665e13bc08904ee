#!/usr/bin/env bash
# Runs every test: installs the test peers, builds (the CLI tests run the built binary), tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
swift build --build-tests
swift test --skip-build --no-parallel 2>&1 | tee .build/test-output.txt
exit "${PIPESTATUS[0]}"
