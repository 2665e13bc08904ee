#!/usr/bin/env bash
# Benchmarks ewsprobe against blackbox_exporter and the libcurl floor on a loopback lab.
#   Benchmarks/run.sh            full run (several minutes), markdown table on stdout
#   Benchmarks/run.sh --smoke    seconds, small fleet (CI keeps the harness from rotting)
# Every number comes from the processes' own CPU accounting (/proc/PID/stat, getrusage).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
if $smoke; then REPS=1; N=60; FLEETS="50"; DURATION=8; INTERVAL=4; else REPS=3; N=1000; FLEETS="100 1000 10000"; DURATION=120; INTERVAL=60; fi
# Overrides for a shorter run: FLEETS="1000" DURATION=60 Benchmarks/run.sh
FLEETS=${BENCH_FLEETS:-$FLEETS}; DURATION=${BENCH_DURATION:-$DURATION}; REPS=${BENCH_REPS:-$REPS}

scripts/setup.sh --test
for p in prometheus-blackbox-exporter bc curl; do dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p"; }; done
# EWSPROBE_BINARY: a release binary built already (CI passes the package's); else build one.
if [ -n "${EWSPROBE_BINARY:-}" ]; then
  EWSPROBE=$EWSPROBE_BINARY
else
  swift build -c release --product ewsprobe >/dev/null
  EWSPROBE=.build/release/ewsprobe
fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
bench_lab bench

# 1. The libcurl floor.
cc -O2 -o "$work/curl_floor" Benchmarks/curl_floor.c -lcurl
floor=$(for _ in $(seq $REPS); do "$work/curl_floor" "$URL" "mail.bench.test:$NGINX_PORT:127.0.0.1:$NGINX_PORT" "$work/ca.pem" "$N" | cut -d' ' -f1; done | median)

# 2. blackbox_exporter, driven through /probe by a separate curl loop.
BB_PORT=$(port)
cat >"$work/blackbox.yml" <<CONF
modules:
  ews:
    prober: http
    timeout: 5s
    http:
      method: POST
      valid_status_codes: [401]
      headers: {Content-Type: "text/xml; charset=utf-8"}
      body: '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>'
      tls_config: {ca_file: $work/ca.pem, server_name: mail.bench.test}
      preferred_ip_protocol: ip4
CONF
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" >"$work/blackbox.log" 2>&1 & BB=$!; pids+=($BB)
wait_port "$BB_PORT"
BB_URL="http://127.0.0.1:$BB_PORT/probe?module=ews&target=https://127.0.0.1:$NGINX_PORT/EWS/Exchange.asmx"
bb_answer=$(curl -s "$BB_URL" || true)
grep -q '^probe_success 1' <<<"$bb_answer" || { echo "blackbox probe does not succeed" >&2; exit 1; }
# per_request PID URL: median over REPS of the server's CPU ms per request, N requests each.
per_request() {
  for _ in $(seq "$REPS"); do
    before=$(cpu_ticks "$1"); for _ in $(seq "$N"); do curl -s -o /dev/null "$2"; done; after=$(cpu_ticks "$1")
    echo "($after - $before) * 1000 / $tck / $N" | bc -l
  done | median
}
blackbox=$(per_request $BB "$BB_URL")

# 3. ewsprobe serve: a fleet pinned to the lab, the equivalent checks.
fleet_config() { # count interval
  { echo "global: {interval: ${2}s, timeout: $(( $2 < 10 ? $2 - 1 : 10 ))s, max_concurrency: 256}"
    echo "modules:"; echo "  bench: {checks: [dns, tcp, tls, auth_methods], tls: {warn_days: 1, fail_days: 0}}"
    echo "targets:"
    for i in $(seq "$1"); do echo "  - {name: t$i, url: \"$URL\", module: bench, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$NGINX_PORT:127.0.0.1\"]}"; done
  } >"$work/fleet-$1.yml"; }
# 3a. ewsprobe driven exactly like blackbox_exporter: /probe of one pinned target by a curl loop.
fleet_config 1 3600
OD_PORT=$(port)
$EWSPROBE serve --config "$work/fleet-1.yml" --listen "127.0.0.1:$OD_PORT" --log-level error & OD=$!; pids+=($OD)
wait_port "$OD_PORT"
OD_URL="http://127.0.0.1:$OD_PORT/probe?target=t1"
# One hiccup at start does not end the run, but its answer is shown; three do.
for attempt in 1 2 3; do
  reply=$(curl -s -w '\nHTTP %{http_code}' "$OD_URL")
  grep -q '^ewsprobe_probe_success{target="t1"} 1' <<<"$reply" && break
  { echo "ewsprobe /probe attempt $attempt did not succeed:"; grep -E 'failure_info|probe_success|^HTTP|^[a-z].*\b(missing|unknown|too many)' <<<"$reply" | head -8; } >&2
  [ "$attempt" = 3 ] && exit 1
  sleep 1
done
ondemand=$(per_request $OD "$OD_URL")
kill $OD; wait $OD 2>/dev/null || true

runs_total() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^ewsprobe_probe_runs_total/ {s += $2} END {print s + 0}'; }
echo "| fleet | interval | probes | CPU ms/probe | CPU share | RSS MB | RSS KB/target | lag p50 ms | lag p99 ms | scrape ms | scrape KB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for fleet in $FLEETS; do
  fleet_config "$fleet" "$INTERVAL"
  P=$(port)
  $EWSPROBE serve --config "$work/fleet-$fleet.yml" --listen "127.0.0.1:$P" --log-level error & S=$!; pids+=($S)
  wait_port "$P"
  sleep $(( INTERVAL + 2 ))  # every target has run once: steady state from here
  c0=$(cpu_ticks $S); r0=$(runs_total $P); t0=$(date +%s.%N)
  sleep "$DURATION"
  c1=$(cpu_ticks $S); r1=$(runs_total $P); t1=$(date +%s.%N)
  probes=$(echo "$r1 - $r0" | bc)
  cpu_ms=$(echo "($c1 - $c0) * 1000 / $tck" | bc -l)
  share=$(echo "$cpu_ms / (($t1 - $t0) * 1000) * 100" | bc -l)
  rss=$(rss_kb $S)
  read -r p50 p99 < <(lag_quantiles $P)
  scrape=$(curl -s -o "$work/scrape.txt" -w '%{time_total}' "http://127.0.0.1:$P/metrics")
  size=$(wc -c <"$work/scrape.txt")
  ms_probe=$(echo "$cpu_ms / ($probes + 0.000001)" | bc -l)
  per_probe=$ms_probe fleet_size=$fleet  # the largest fleet: steady load, fixed costs shared
  printf '| %s | %ss | %s | %.2f | %.1f %% | %.1f | %.1f | %s | %s | %.0f | %.0f |\n' "$fleet" "$INTERVAL" "$probes" "$ms_probe" "$share" \
    "$(echo "$rss / 1024" | bc -l)" "$(echo "$rss / $fleet" | bc -l)" "$p50" "$p99" "$(echo "$scrape * 1000" | bc -l)" "$(echo "$size / 1024" | bc -l)"
  kill $S; wait $S 2>/dev/null || true
done
echo
echo "| per-probe CPU (median of $REPS) | ms | vs blackbox | vs libcurl floor |"
echo "|---|---|---|---|"
printf '| libcurl floor (fresh HTTPS POST) | %.2f | | 1.00 |\n' "$floor"
printf '| blackbox_exporter 0.23 http POST | %.2f | 1.00 | %.2f |\n' "$blackbox" "$(echo "$blackbox / $floor" | bc -l)"
printf '| ewsprobe /probe, dns+tcp+tls+auth_methods (curl loop, as blackbox) | %.2f | %.2f | %.2f |\n' "$ondemand" "$(echo "$ondemand / $blackbox" | bc -l)" "$(echo "$ondemand / $floor" | bc -l)"
printf '| ewsprobe serve, %s-target fleet, same checks | %.2f | %.2f | %.2f |\n' "$fleet_size" "$per_probe" "$(echo "$per_probe / $blackbox" | bc -l)" "$(echo "$per_probe / $floor" | bc -l)"

# 4. The directory: ewsprobe's directory probe beside ldapsearch on one slapd.
echo
if $smoke; then Benchmarks/ldap.sh "$EWSPROBE" --smoke; else Benchmarks/ldap.sh "$EWSPROBE"; fi
