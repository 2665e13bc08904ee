#!/usr/bin/env bash
# Two HTTP clients, or one: the release build beside the same build with every exchange on
# libcurl (scripts/build-release.sh --curl-only), side by side with Benchmarks/compare.sh
# (alternating, several rounds). The direct client stays only while it saves more than 10 % of a
# probe's CPU (README, Design).
#   Benchmarks/clients.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
both=$(scripts/build-release.sh)
curl_only=$(scripts/build-release.sh --curl-only)
echo "old = libcurl only ($curl_only), new = both clients ($both)"
Benchmarks/compare.sh "$curl_only" "$both" "${1:-4}"
