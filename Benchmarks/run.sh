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
swift build -c release --product ewsprobe >/dev/null
EWSPROBE=.build/release/ewsprobe
work=$(mktemp -d /tmp/ewsprobe-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# The lab: nginx with an ECDSA P-256 certificate answering like on-premises Exchange.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 7 \
  -subj "/CN=ewsprobe bench root" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/leaf.key" -out "$work/leaf.csr" -subj "/CN=mail.bench.test" 2>/dev/null
printf 'subjectAltName=DNS:mail.bench.test\n' >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -out "$work/leaf.pem" -days 7 -extfile "$work/leaf.ext" 2>/dev/null
NGINX_PORT=$(port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; error_log $work/nginx/logs/error.log; pid $work/nginx/pid;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $work/nginx;
  server { listen 127.0.0.1:$NGINX_PORT ssl; ssl_certificate $work/leaf.pem; ssl_certificate_key $work/leaf.key;
    location / { add_header WWW-Authenticate "Negotiate" always; add_header WWW-Authenticate "NTLM" always;
      add_header WWW-Authenticate 'Basic realm="mail.bench.test"' always; return 401; } } }
CONF
ulimit -n 65536 2>/dev/null || true
/usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)
wait_port "$NGINX_PORT"
URL="https://mail.bench.test:$NGINX_PORT/EWS/Exchange.asmx"

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
curl -s "$BB_URL" | grep -q '^probe_success 1' || { echo "blackbox probe does not succeed" >&2; exit 1; }
blackbox=$(for _ in $(seq $REPS); do
  before=$(cpu_ticks $BB); for _ in $(seq $N); do curl -s -o /dev/null "$BB_URL"; done; after=$(cpu_ticks $BB)
  echo "($after - $before) * 1000 / $tck / $N" | bc -l; done | median)

# 3. ewsprobe serve: a fleet pinned to the lab, the equivalent checks.
fleet_config() { # count interval
  { echo "global: {interval: ${2}s, timeout: $(( $2 < 10 ? $2 - 1 : 10 ))s, max_concurrency: 256}"
    echo "modules:"; echo "  bench: {checks: [dns, tcp, tls, auth_methods], tls: {warn_days: 1, fail_days: 0}}"
    echo "targets:"
    for i in $(seq "$1"); do echo "  - {name: t$i, url: \"$URL\", module: bench, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$NGINX_PORT:127.0.0.1\"]}"; done
  } >"$work/fleet-$1.yml"; }
runs_total() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^ewsprobe_probe_runs_total/ {s += $2} END {print s + 0}'; }
lag_quantiles() { curl -s "http://127.0.0.1:$1/metrics" | python3 -c '
import sys
b = []
for line in sys.stdin:
    if line.startswith("ewsprobe_scheduler_lag_seconds_bucket"):
        le = line.split("le=\"")[1].split("\"")[0]
        b.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
total = b[-1][1] if b else 0
def q(p):
    prev_le, prev_c = 0.0, 0.0
    for le, c in b:
        if c >= p * total and total > 0:
            if le == float("inf"): return prev_le
            return prev_le + (le - prev_le) * ((p * total - prev_c) / max(c - prev_c, 1e-9))
        prev_le, prev_c = le, c
    return 0.0
print("%.1f %.1f" % (q(0.5) * 1000, q(0.99) * 1000))'; }

echo "| fleet | interval | probes | CPU ms/probe | CPU share | RSS MB | RSS KB/target | lag p50 ms | lag p99 ms | scrape ms | scrape KB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
per_probe=""
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
  [ -z "$per_probe" ] && per_probe=$ms_probe
  printf '| %s | %ss | %s | %.2f | %.1f %% | %.1f | %.1f | %s | %s | %.0f | %.0f |\n' "$fleet" "$INTERVAL" "$probes" "$ms_probe" "$share" \
    "$(echo "$rss / 1024" | bc -l)" "$(echo "$rss / $fleet" | bc -l)" "$p50" "$p99" "$(echo "$scrape * 1000" | bc -l)" "$(echo "$size / 1024" | bc -l)"
  kill $S; wait $S 2>/dev/null || true
done
echo
echo "| per-probe CPU (median of $REPS) | ms | vs blackbox | vs libcurl floor |"
echo "|---|---|---|---|"
printf '| libcurl floor (fresh HTTPS POST) | %.2f | | 1.00 |\n' "$floor"
printf '| blackbox_exporter 0.23 http POST | %.2f | 1.00 | %.2f |\n' "$blackbox" "$(echo "$blackbox / $floor" | bc -l)"
printf '| ewsprobe dns+tcp+tls+auth_methods | %.2f | %.2f | %.2f |\n' "$per_probe" "$(echo "$per_probe / $blackbox" | bc -l)" "$(echo "$per_probe / $floor" | bc -l)"
