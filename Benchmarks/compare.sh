#!/usr/bin/env bash
# Two ewsprobe builds side by side on one loopback lab, in one run, alternating which goes first:
#   Benchmarks/compare.sh OLD_BINARY NEW_BINARY [ROUNDS]
# Per round and build: CPU per /probe request (a curl loop, as blackbox_exporter is driven) and
# CPU per scheduled probe of a pinned fleet with its RSS. Prints the median and the spread.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?old binary}
B=${2:?new binary}
ROUNDS=${3:-4}
N=${BENCH_REQUESTS:-400}
FLEET=${BENCH_FLEET:-1000}
INTERVAL=${BENCH_INTERVAL:-10}
WINDOW=${BENCH_WINDOW:-30}
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
bench_lab compare
config() { # count interval file
  { echo "global: {interval: ${2}s, timeout: 5s, max_concurrency: 256}"
    echo "modules:"; echo "  bench: {checks: [dns, tcp, tls, auth_methods], tls: {warn_days: 1, fail_days: 0}}"
    echo "targets:"
    for i in $(seq "$1"); do echo "  - {name: t$i, url: \"$URL\", module: bench, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$NGINX_PORT:127.0.0.1\"]}"; done
  } >"$3"; }
config 1 3600 "$work/one.yml"
config "$FLEET" "$INTERVAL" "$work/fleet.yml"
runs_total() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^ewsprobe_probe_runs_total/ {s += $2} END {print s + 0}'; }

ondemand() { # binary -> CPU ms per /probe request
  local port pid before after
  port=$(port)
  "$1" serve --config "$work/one.yml" --listen "127.0.0.1:$port" --log-level error & pid=$!; pids+=($pid)
  wait_port "$port"
  # The answer through a variable: grep -q ends early and pipefail would count curl's broken pipe.
  local attempt reply
  for attempt in 1 2 3; do
    reply=$(curl -s "http://127.0.0.1:$port/probe?target=t1")
    grep -q '^ewsprobe_probe_success{target="t1"} 1' <<<"$reply" && break
    [ "$attempt" = 3 ] && { echo "/probe fails for $1" >&2; exit 1; }
    sleep 1
  done
  before=$(cpu_ticks $pid)
  for _ in $(seq "$N"); do curl -s -o /dev/null "http://127.0.0.1:$port/probe?target=t1"; done
  after=$(cpu_ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  echo "($after - $before) * 1000 / $tck / $N" | bc -l
}

scheduled() { # binary -> "CPU ms per probe, RSS MB"
  local port pid c0 c1 r0 r1 rss
  port=$(port)
  "$1" serve --config "$work/fleet.yml" --listen "127.0.0.1:$port" --log-level error & pid=$!; pids+=($pid)
  wait_port "$port"
  sleep $(( INTERVAL + 2 ))
  c0=$(cpu_ticks $pid); r0=$(runs_total "$port")
  sleep "$WINDOW"
  c1=$(cpu_ticks $pid); r1=$(runs_total "$port")
  rss=$(rss_kb $pid)
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(echo "($c1 - $c0) * 1000 / $tck / ($r1 - $r0)" | bc -l) $(echo "$rss / 1024" | bc -l)"
}

: >"$work/old.txt"; : >"$work/new.txt"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="old new"; else order="new old"; fi
  for which in $order; do
    bin=$A; [ "$which" = new ] && bin=$B
    od=$(ondemand "$bin")
    read -r sp rss < <(scheduled "$bin")
    echo "$od $sp $rss" >>"$work/$which.txt"
    printf 'round %s %s: /probe %.3f ms, scheduled %.3f ms/probe, RSS %.1f MB\n' "$round" "$which" "$od" "$sp" "$rss" >&2
  done
done
stat() { # file column -> "median (min–max)"
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f (%.3f–%.3f)", m, a[1], a[NR]}'
}
echo "| build | /probe CPU ms/request | scheduled CPU ms/probe ($FLEET targets, ${INTERVAL}s) | RSS MB |"
echo "|---|---|---|---|"
echo "| old | $(stat "$work/old.txt" 1) | $(stat "$work/old.txt" 2) | $(stat "$work/old.txt" 3) |"
echo "| new | $(stat "$work/new.txt" 1) | $(stat "$work/new.txt" 2) | $(stat "$work/new.txt" 3) |"
echo "($ROUNDS rounds, alternating order; median (min–max); $N /probe requests per round)"
