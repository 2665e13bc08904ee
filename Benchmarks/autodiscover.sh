#!/usr/bin/env bash
# What an Autodiscover walk costs: CPU per /probe request of the `autodiscover` check alone
# against the Autodiscover lab (Tests/EWSProbeTests/Support/autodiscover_lab.py: dnsmasq, nginx
# on 443/80 of loopback addresses, Basic auth, the POX responder; needs root), for an address
# found at the first candidate (the domain root) and one found only through its SRV record (two
# candidates that do not resolve, the http one neither, then the SRV target). Both with the
# lab's credentials: each candidate is asked without them first, then with them after its 401.
# The two serves run side by side and take their requests in turn.
#   Benchmarks/autodiscover.sh BINARY [ROUNDS]        (--smoke: one short round)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?binary}
ROUNDS=${2:-5}
N=${BENCH_REQUESTS:-400}
if [ "${2:-}" = --smoke ] || [ "${1:-}" = --smoke ]; then BIN=${EWSPROBE_BINARY:-.build-rel/release/ewsprobe}; ROUNDS=1; N=20; fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
work=$(mktemp -d "/tmp/ewsprobe-adbench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"' EXIT
tck=$(getconf CLK_TCK)
DNS=$(port)
python3 Tests/EWSProbeTests/Support/autodiscover_lab.py --dir "$work/lab" --dns-port "$DNS" --responder-port "$(port)" \
  --password Ad-Bench-Pass-1 --subnet 127.0.57 >"$work/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "ready $DNS" "$work/lab.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready $DNS" "$work/lab.log" || { echo "autodiscover bench: the lab did not start: $(tail -5 "$work/lab.log")" >&2; exit 1; }
printf '%s' Ad-Bench-Pass-1 >"$work/password"
chmod 600 "$work/password"

config() { # name domain
  { echo "global: {interval: 3600s, timeout: 10s}"
    echo "modules:"
    echo "  ad: {checks: [dns, autodiscover], ca_file: $work/lab/root.pem, dns: {server: \"127.0.0.1:$DNS\"}, autodiscover: {email: user@$2}}"
    echo "targets:"
    echo "  - {name: t1, url: \"https://mail.$2/EWS/Exchange.asmx\", module: ad, username: svc@adlab.test, password_file: $work/password}"
  } >"$work/$1.yml"; }
config domain root.adlab.test
config srv srv.adlab.test
# root's EWS URL is mail.root...; srv's mail.srv...: both must match, found where they should be.
declare -A found=([domain]='candidate="domain",url="https://root.adlab.test/autodiscover/autodiscover.xml"} 1'
  [srv]='candidate="srv",url="https://mail.srv.adlab.test/autodiscover/autodiscover.xml"} 1')

serve() { # mode -> "PORT PID"
  local port pid reply
  port=$(port)
  "$BIN" serve --config "$work/$1.yml" --listen "127.0.0.1:$port" --log-level error >/dev/null 2>&1 & pid=$!
  wait_port "$port"
  reply=$(curl -s "http://127.0.0.1:$port/probe?target=t1")
  for pattern in '^ewsprobe_autodiscover_ews_url_match\{target="t1"\} 1' "${found[$1]}"; do
    grep -Eq "$pattern" <<<"$reply" || { echo "autodiscover bench: /probe of $1 does not show $pattern: $reply" >&2; kill $pid; exit 1; }
  done
  echo "$port $pid"
}

modes=(domain srv)
for round in $(seq "$ROUNDS"); do
  declare -A port=() pid=() before=()
  for mode in "${modes[@]}"; do read -r port[$mode] pid[$mode] <<<"$(serve "$mode")"; pids+=("${pid[$mode]}"); done
  order=("${modes[@]}")
  [ $((round % 2)) -eq 0 ] && order=(srv domain)
  for mode in "${modes[@]}"; do before[$mode]=$(cpu_ticks "${pid[$mode]}"); done
  for _ in $(seq "$N"); do
    for mode in "${order[@]}"; do curl -s -o /dev/null "http://127.0.0.1:${port[$mode]}/probe?target=t1"; done
  done
  for mode in "${modes[@]}"; do
    ms=$(echo "($(cpu_ticks "${pid[$mode]}") - ${before[$mode]}) * 1000 / $tck / $N" | bc -l)
    kill "${pid[$mode]}"; wait "${pid[$mode]}" 2>/dev/null || true
    echo "$ms" >>"$work/$mode.txt"
    printf 'round %s %s: %.3f ms CPU per /probe\n' "$round" "$mode" "$ms" >&2
  done
done
stat() { sort -g "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f (%.3f–%.3f)", m, a[1], a[NR]}'; }
echo "| Autodiscover found at | ewsprobe CPU ms per run (dns, autodiscover, with credentials) |"
echo "|---|---|"
echo "| the domain root (1 candidate, 2 POSTs) | $(stat "$work/domain.txt") |"
echo "| the SRV record (3 candidates that do not resolve, the SRV lookup, 2 POSTs) | $(stat "$work/srv.txt") |"
echo "($ROUNDS rounds, the two serves side by side taking requests in turn; median (min–max); $N requests per round and mode)"
