#!/usr/bin/env bash
# The cost of the outbound proxy: CPU per /probe request of one binary probing the same HTTPS
# EWS lab directly, through tinyproxy (no authentication) and through squid (Basic), in one run,
# rotating which goes first each round:
#   Benchmarks/proxy.sh BINARY [ROUNDS]        (--smoke: one short round, CI keeps it from rotting)
# The module is dns, tcp, tls, auth_methods: through a proxy every connection is a CONNECT tunnel.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?binary}
ROUNDS=${2:-5}
N=${BENCH_REQUESTS:-300}
if [ "${2:-}" = --smoke ] || [ "${1:-}" = --smoke ]; then BIN=${EWSPROBE_BINARY:-.build-rel/release/ewsprobe}; ROUNDS=1; N=20; fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
work=$(mktemp -d "/tmp/ewsprobe-proxybench.XXXXXX")
chmod 755 "$work" # squid runs as nobody and reads its folder under it
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1.5; rm -rf "$work"' EXIT
tck=$(getconf CLK_TCK)
NGINX_PORT=$(port)
pids+=("$(lab_tls "$work" "$NGINX_PORT" "DNS:mail.bench.test,IP:127.0.0.1")")
URL="https://127.0.0.1:$NGINX_PORT/EWS/Exchange.asmx"
user=bench password=Bench-Proxy-Pass-1
printf '%s' "$password" >"$work/proxy.password"
chmod 600 "$work/proxy.password"

start_proxy() { # port mode [args]; runs in this shell so the exit trap stops it
  local p=$1
  shift
  python3 Tests/EWSProbeTests/Support/proxy_lab.py "$@" --port "$p" --dir "$work/proxy-$1" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_port "$p"
}
SQUID=$(port)
TINY=$(port)
start_proxy "$SQUID" squid-basic --user "$user" --password "$password"
start_proxy "$TINY" tinyproxy

config() { # name proxy-yaml
  { echo "global: {interval: 3600s, timeout: 5s}"
    echo "modules:"; echo "  bench: {checks: [dns, tcp, tls, auth_methods], tls: {warn_days: 1, fail_days: 0}$2}"
    echo "targets:"; echo "  - {name: t1, url: \"$URL\", module: bench, ca_file: $work/ca.pem}"
  } >"$work/$1.yml"; }
config direct ""
config tinyproxy ", proxy: {url: \"http://127.0.0.1:$TINY\"}"
config squid ", proxy: {url: \"http://127.0.0.1:$SQUID\", username: $user, password_file: $work/proxy.password}"

ondemand() { # config -> CPU ms per /probe request
  local port pid before after reply
  port=$(port)
  "$BIN" serve --config "$work/$1.yml" --listen "127.0.0.1:$port" --log-level error & pid=$!; pids+=($pid)
  wait_port "$port"
  reply=$(curl -s "http://127.0.0.1:$port/probe?target=t1")
  grep -q '^ewsprobe_probe_success{target="t1"} 1' <<<"$reply" || { echo "proxy bench: /probe fails for $1: $reply" >&2; exit 1; }
  before=$(cpu_ticks $pid)
  for _ in $(seq "$N"); do curl -s -o /dev/null "http://127.0.0.1:$port/probe?target=t1"; done
  after=$(cpu_ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  echo "($after - $before) * 1000 / $tck / $N" | bc -l
}

modes=(direct tinyproxy squid)
for round in $(seq "$ROUNDS"); do
  shift_by=$(( (round - 1) % 3 ))
  order=("${modes[@]:$shift_by}" "${modes[@]:0:$shift_by}")
  for mode in "${order[@]}"; do
    ms=$(ondemand "$mode")
    echo "$ms" >>"$work/$mode.txt"
    printf 'round %s %s: %.3f ms CPU per /probe\n' "$round" "$mode" "$ms" >&2
  done
done
stat() { sort -g "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f (%.3f–%.3f)", m, a[1], a[NR]}'; }
echo "| path | ewsprobe CPU ms per /probe (dns, tcp, tls, auth_methods) |"
echo "|---|---|"
for mode in "${modes[@]}"; do echo "| $mode | $(stat "$work/$mode.txt") |"; done
echo "($ROUNDS rounds, rotating order; median (min–max); $N requests per round and path)"
