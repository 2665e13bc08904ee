#!/usr/bin/env bash
# Runs every test: installs the test peers, builds (the CLI tests run the built binary), tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# A layer importing one it does not declare is an error, not a build-order accident.
swift build --build-tests --explicit-target-dependency-import-check error
swift test --skip-build --no-parallel 2>&1 | tee .build/test-output.txt
exit "${PIPESTATUS[0]}"
