#!/usr/bin/env bash
# Benchmarks ewsprobe against blackbox_exporter and the libcurl floor on a loopback lab.
#   Benchmarks/run.sh            full run (about 20 minutes), markdown tables on stdout
#   Benchmarks/run.sh --smoke    under a minute, small fleets (CI keeps the harness from rotting)
# Every number comes from the processes' own CPU accounting (/proc/PID/stat, getrusage), and every
# probe timed is checked to give the verdict it should: a failing one ends the run (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
if $smoke; then REPS=1; N=60; N8=80; FLEETS="50"; FULL_FLEETS="50"; DURATION=8; INTERVAL=4
else REPS=3; N=1000; N8=12000; FLEETS="100 1000 10000"; FULL_FLEETS="10000"; DURATION=120; INTERVAL=60; fi
# Overrides for a shorter run: BENCH_FLEETS="1000" BENCH_DURATION=60 Benchmarks/run.sh. FLEETS are
# the basic module's fleets, FULL_FLEETS the default EWS module's; an empty value leaves them out.
# BENCH_CONC_REQUESTS: /probe requests per rep from BENCH_CLIENTS (8) concurrent clients;
# BENCH_KEEPALIVE=1 lets those clients keep their connections (as Prometheus does) instead of a
# fresh connection per request (as the sequential curl loop). The 10-minute RSS of the default
# module's fleet: BENCH_FLEETS= BENCH_FULL_FLEETS=10000 BENCH_DURATION=540 BENCH_RSS_EVERY=60.
FLEETS=${BENCH_FLEETS-$FLEETS}; FULL_FLEETS=${BENCH_FULL_FLEETS-$FULL_FLEETS}
DURATION=${BENCH_DURATION:-$DURATION}; REPS=${BENCH_REPS:-$REPS}
N8=${BENCH_CONC_REQUESTS:-$N8}; CLIENTS=${BENCH_CLIENTS:-8}

scripts/setup.sh --test
for p in prometheus-blackbox-exporter bc curl; do dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p"; }; done
# EWSPROBE_BINARY: a release binary built already (CI passes the package's); else the one release
# build users run (scripts/build-release.sh: static runtime, as packaged).
if [ -n "${EWSPROBE_BINARY:-}" ]; then
  EWSPROBE=$EWSPROBE_BINARY
else
  EWSPROBE=$(scripts/build-release.sh)
fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
bench_lab bench
# 10,000 targets want descriptors: as many as the hard limit allows when 65536 is refused.
ulimit -n 65536 2>/dev/null || { ulimit -n "$(ulimit -Hn)"; echo "note: open files limited to $(ulimit -n) (the hard limit)" >&2; }

# The default EWS module's lab: a second nginx with the same certificate that also speaks NTLM's
# first leg, as Exchange does: a NEGOTIATE (Authorization: NTLM ...) gets 401 with one fixed
# CHALLENGE naming the computer CAS1 (cas1.bench.test), any other request the lab's 401 with
# Negotiate, NTLM and Basic. One computer behind the port: lb_affinity passes (sticky).
# The CHALLENGE is packed here as MS-NLMP lays it out (target name, flags, server challenge,
# target info with NetBIOS and DNS names and a timestamp, version 10.0.20348).
ntlm_challenge() {
  python3 - <<'PY'
import base64, struct, time
def av(i, s):
    b = s.encode('utf-16-le')
    return struct.pack('<HH', i, len(b)) + b
info = (av(2, 'BENCH') + av(1, 'CAS1') + av(4, 'bench.test') + av(3, 'cas1.bench.test') + av(5, 'bench.test')
        + struct.pack('<HHQ', 7, 8, int(time.time() * 10**7) + 116444736000000000) + struct.pack('<HH', 0, 0))
name = 'BENCH'.encode('utf-16-le')
# UNICODE, REQUEST_TARGET, NTLM, ALWAYS_SIGN, TARGET_TYPE_DOMAIN, EXTENDED_SESSIONSECURITY,
# TARGET_INFO, VERSION, 128, 56
flags = 0x1 | 0x4 | 0x200 | 0x8000 | 0x10000 | 0x80000 | 0x800000 | 0x2000000 | 0x20000000 | 0x80000000
head = (b'NTLMSSP\0' + struct.pack('<I', 2) + struct.pack('<HHI', len(name), len(name), 56) + struct.pack('<I', flags)
        + bytes(range(1, 9)) + bytes(8) + struct.pack('<HHI', len(info), len(info), 56 + len(name))
        + struct.pack('<BBHBBBB', 10, 0, 20348, 0, 0, 0, 15))
print(base64.b64encode(head + name + info).decode())
PY
}
NTLM_PORT=$(port)
mkdir -p "$work/nginx-ntlm/logs"
cat >"$work/nginx-ntlm/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; error_log $work/nginx-ntlm/logs/error.log; pid $work/nginx-ntlm/pid;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $work/nginx-ntlm;
  server { listen 127.0.0.1:$NTLM_PORT ssl; ssl_certificate $work/leaf.pem; ssl_certificate_key $work/leaf.key;
    location / {
      if (\$http_authorization ~ "^NTLM ") { add_header WWW-Authenticate "NTLM $(ntlm_challenge)" always; return 401; }
      add_header WWW-Authenticate "Negotiate" always; add_header WWW-Authenticate "NTLM" always;
      add_header WWW-Authenticate 'Basic realm="mail.bench.test"' always; return 401; } } }
CONF
/usr/sbin/nginx -p "$work/nginx-ntlm" -c "$work/nginx-ntlm/nginx.conf" >/dev/null 2>&1 & pids+=("$!")
wait_port "$NTLM_PORT" || { echo "the NTLM lab's nginx did not start: $(tail -5 "$work/nginx-ntlm/logs/error.log")" >&2; exit 1; }
NTLM_URL="https://mail.bench.test:$NTLM_PORT/EWS/Exchange.asmx"

# 1. The libcurl floor.
cc -O2 -o "$work/curl_floor" Benchmarks/curl_floor.c -lcurl
floor=$(for _ in $(seq "$REPS"); do "$work/curl_floor" "$URL" "mail.bench.test:$NGINX_PORT:127.0.0.1:$NGINX_PORT" "$work/ca.pem" "$N" | cut -d' ' -f1; done | median)

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
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" >"$work/blackbox.log" 2>&1 & BB=$!; pids+=("$BB")
wait_port "$BB_PORT"
BB_URL="http://127.0.0.1:$BB_PORT/probe?module=ews&target=https://127.0.0.1:$NGINX_PORT/EWS/Exchange.asmx"
BB_PASS='probe_success 1'
bb_answer=$(curl -s "$BB_URL" || true)
grep -qxF "$BB_PASS" <<<"$bb_answer" || { echo "blackbox probe does not succeed" >&2; exit 1; }
# per_request PID URL LINE: median over REPS of the server's CPU ms per request, N requests one
# after another (a curl process each: a fresh connection). Every answer must hold the line LINE.
per_request() {
  local before after reply
  for _ in $(seq "$REPS"); do
    before=$(cpu_ticks "$1")
    for _ in $(seq "$N"); do
      reply=$(curl -s "$2" || true)
      [[ $'\n'$reply$'\n' == *$'\n'"$3"$'\n'* ]] ||
        { echo "a /probe answer of $2 lacks '$3': $(grep -E '^[^#].*(probe_success|failure_info)' <<<"$reply" | head -5)" >&2; exit 1; }
    done
    after=$(cpu_ticks "$1")
    echo "($after - $before) * 1000 / $tck / $N" | bc -l
  done | median
}
blackbox=$(per_request $BB "$BB_URL" "$BB_PASS")

# 3. ewsprobe serve: a fleet pinned to the lab, the equivalent checks.
fleet_config() { # count interval
  { echo "global: {interval: ${2}s, timeout: $(( $2 < 10 ? $2 - 1 : 10 ))s, max_concurrency: 256}"
    echo "modules:"; echo "  bench: {checks: [dns, tcp, tls, auth_methods], tls: {warn_days: 1, fail_days: 0}}"
    echo "targets:"
    for i in $(seq "$1"); do echo "  - {name: t$i, url: \"$URL\", module: bench, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$NGINX_PORT:127.0.0.1\"]}"; done
  } >"$work/fleet-$1.yml"; }
# The built-in default module (every EWS check: dns, tcp, tls, auth_methods, forms_auth,
# lb_affinity, ews_login, autodiscover; default settings, so lb_affinity every 10m) against the
# NTLM lab. Without credentials and an address, ews_login and autodiscover skip.
default_config() { # count interval
  { echo "global: {interval: ${2}s, timeout: $(( $2 < 10 ? $2 - 1 : 10 ))s, max_concurrency: 256}"
    echo "targets:"
    for i in $(seq "$1"); do echo "  - {name: t$i, url: \"$NTLM_URL\", ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$NTLM_PORT:127.0.0.1\"]}"; done
  } >"$work/fleet-default-$1.yml"; }
# 3a. ewsprobe driven exactly like blackbox_exporter: /probe of one pinned target by a curl loop.
fleet_config 1 3600
OD_PORT=$(port)
$EWSPROBE serve --config "$work/fleet-1.yml" --listen "127.0.0.1:$OD_PORT" --log-level error & OD=$!; pids+=("$OD")
wait_port "$OD_PORT"
OD_URL="http://127.0.0.1:$OD_PORT/probe?target=t1"
OD_PASS='ewsprobe_probe_success{target="t1"} 1'
# One hiccup at start does not end the run, but its answer is shown; three do.
for attempt in 1 2 3; do
  reply=$(curl -s -w '\nHTTP %{http_code}' "$OD_URL")
  grep -qxF "$OD_PASS" <<<"$reply" && break
  { echo "ewsprobe /probe attempt $attempt did not succeed:"; grep -E 'failure_info|probe_success|^HTTP|^[a-z].*\b(missing|unknown|too many)' <<<"$reply" | head -8; } >&2
  [ "$attempt" = 3 ] && exit 1
  sleep 1
done
ondemand=$(per_request $OD "$OD_URL" "$OD_PASS")

# 3b. Both /probe endpoints driven by CLIENTS concurrent clients: one `curl --parallel` keeping
# CLIENTS requests in flight (the cheapest client: no process per request), N8 requests a rep, each
# on a fresh connection as in the loop above (BENCH_KEEPALIVE=1: kept-alive connections). Reps
# alternate which server goes first; every answer is saved and must be a 200 holding the verdict.
conn=(-H "Connection: close"); conn_text="a fresh connection each (Connection: close)"
if [ "${BENCH_KEEPALIVE:-0}" = 1 ]; then conn=(); conn_text="kept-alive connections"; fi
concurrent() { # PID URL LINE NAME -> "CPU ms per request, requests per second"
  local dir=$work/answers-$4 before after t0 t1 ok missing
  rm -rf "$dir"; mkdir "$dir"
  awk -v n="$N8" -v u="$2" -v d="$dir" 'BEGIN {for (i = 1; i <= n; i++) printf "url = \"%s\"\noutput = \"%s/%d\"\n", u, d, i}' >"$work/$4.curl"
  before=$(cpu_ticks "$1"); t0=$(date +%s.%N)
  curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max "$CLIENTS" "${conn[@]}" \
    -w '%{http_code}\n' -K "$work/$4.curl" >"$dir.codes" 2>"$dir.errors" || true
  after=$(cpu_ticks "$1"); t1=$(date +%s.%N)
  ok=$(grep -c '^200$' "$dir.codes" || true)
  [ "$ok" = "$N8" ] || { echo "$4: $ok of $N8 /probe requests from $CLIENTS clients answered 200 (codes: $(sort "$dir.codes" | uniq -c | tr -s ' \n' ' ')) $(head -3 "$dir.errors")" >&2; exit 1; }
  missing=$(grep -rLxF -- "$3" "$dir" || true)
  [ -z "$missing" ] || { echo "$4: $(wc -l <<<"$missing") of $N8 /probe answers from $CLIENTS clients lack '$3'; the first: $(grep -E '^[^#].*(probe_success|failure_info)' "${missing%%$'\n'*}" | head -5)" >&2; exit 1; }
  rm -rf "$dir"
  echo "$(echo "($after - $before) * 1000 / $tck / $N8" | bc -l) $(echo "$N8 / ($t1 - $t0)" | bc -l)"
}
: >"$work/conc-blackbox.txt"; : >"$work/conc-ewsprobe.txt"
for rep in $(seq "$REPS"); do
  order="blackbox ewsprobe"; [ $((rep % 2)) = 0 ] && order="ewsprobe blackbox"
  for which in $order; do
    if [ "$which" = blackbox ]; then r=$(concurrent $BB "$BB_URL" "$BB_PASS" blackbox); else r=$(concurrent $OD "$OD_URL" "$OD_PASS" ewsprobe); fi
    echo "$r" >>"$work/conc-$which.txt"
    read -r ms rps <<<"$r"
    printf 'rep %s %s, %s clients: %.3f ms CPU per /probe, %.0f requests/s\n' "$rep" "$which" "$CLIENTS" "$ms" "$rps" >&2
  done
done
kill $OD; wait $OD 2>/dev/null || true

runs_total() { awk '/^ewsprobe_probe_runs_total/ {s += $2} END {print s + 0}' "$1"; }
skipped_total() { awk '/^ewsprobe_scheduler_skipped_runs_total / {print $2; f = 1} END {if (!f) print "absent"}' "$1"; }
# fleet_row KIND SIZE CONFIG: serve the fleet, wait one interval (every target has run once:
# steady state from here), measure DURATION seconds; one table row. At the end of the window
# every target must pass (the default module: lb_affinity passing, autodiscover skipping too).
fleet_row() {
  local P S cs ts c0 c1 r0 r1 t0 t1 probes cpu_ms share warm rss p50 p99 w50 w99 scrape size ms_probe skipped n
  P=$(port)
  $EWSPROBE serve --config "$3" --listen "127.0.0.1:$P" --log-level error >"$work/serve-$1-$2.log" 2>&1 & S=$!; pids+=("$S")
  wait_port "$P" || { echo "serve of $1 fleet $2 did not listen: $(tail -5 "$work/serve-$1-$2.log")" >&2; exit 1; }
  cs=$(cpu_ticks $S); ts=$(date +%s.%N)
  sleep $(( INTERVAL + 2 ))
  c0=$(cpu_ticks $S); t0=$(date +%s.%N); curl -s "http://127.0.0.1:$P/metrics" >"$work/m0.txt"; r0=$(runs_total "$work/m0.txt")
  [ "$r0" -ge "$2" ] || echo "note: $1 fleet $2: $r0 runs after the first interval, fewer than its targets" >&2
  # BENCH_RSS_EVERY=SECONDS: the RSS on stderr that often through the window (where it levels off).
  if [ -n "${BENCH_RSS_EVERY:-}" ]; then
    for _ in $(seq "$BENCH_RSS_EVERY" "$BENCH_RSS_EVERY" "$DURATION"); do
      sleep "$BENCH_RSS_EVERY"
      printf '%s fleet %s at %.0f s: RSS %.1f MB\n' "$1" "$2" "$(echo "$(date +%s.%N) - $ts" | bc -l)" "$(echo "$(rss_kb $S) / 1024" | bc -l)" >&2
    done
    sleep $(( DURATION % BENCH_RSS_EVERY ))
  else
    sleep "$DURATION"
  fi
  c1=$(cpu_ticks $S); t1=$(date +%s.%N); curl -s "http://127.0.0.1:$P/metrics" >"$work/m1.txt"; r1=$(runs_total "$work/m1.txt")
  probes=$(echo "$r1 - $r0" | bc)
  cpu_ms=$(echo "($c1 - $c0) * 1000 / $tck" | bc -l)
  share=$(echo "$cpu_ms / (($t1 - $t0) * 1000) * 100" | bc -l)
  warm=$(echo "($c0 - $cs) * 100 / $tck / ($t0 - $ts)" | bc -l)
  rss=$(rss_kb $S)
  read -r p50 p99 < <(python3 scripts/lag_quantiles.py <"$work/m1.txt")
  read -r w50 w99 < <(python3 scripts/lag_quantiles.py "$work/m0.txt" <"$work/m1.txt")
  skipped=$(skipped_total "$work/m1.txt")
  scrape=$(curl -s -o "$work/scrape.txt" -w '%{time_total}' "http://127.0.0.1:$P/metrics")
  size=$(wc -c <"$work/scrape.txt")
  ms_probe=$(echo "$cpu_ms / ($probes + 0.000001)" | bc -l)
  kill $S; wait $S 2>/dev/null || true
  n=$(grep -cE '^ewsprobe_probe_success\{target="t[0-9]+"\} 1$' "$work/scrape.txt" || true)
  [ "$n" = "$2" ] || { echo "$1 fleet $2: $n of $2 targets pass at the end of the window: $(grep -E '^ewsprobe_check_failure_info' "$work/scrape.txt" | cut -d'{' -f2 | cut -d, -f2- | sort | uniq -c | head -5)" >&2; exit 1; }
  if [ "$1" = default ]; then
    n=$(grep -cE '^ewsprobe_check_success\{target="t[0-9]+",check="lb_affinity"\} 1$' "$work/scrape.txt" || true)
    [ "$n" = "$2" ] || { echo "default fleet $2: lb_affinity passes on $n of $2 targets" >&2; exit 1; }
    n=$(grep -cE '^ewsprobe_check_failure_info\{target="t[0-9]+",check="autodiscover",status="skip",reason="no_address"\} 1$' "$work/scrape.txt" || true)
    [ "$n" = "$2" ] || { echo "default fleet $2: autodiscover skips (no_address) on $n of $2 targets" >&2; exit 1; }
  fi
  rm -f "$work/m0.txt" "$work/m1.txt"
  [ ! -s "$work/serve-$1-$2.log" ] || { echo "serve of $1 fleet $2 logged $(wc -l <"$work/serve-$1-$2.log") lines:" >&2; head -5 "$work/serve-$1-$2.log" >&2; }
  printf '| %s | %s | %ss | %s | %s | %.2f | %.1f %% | %.1f %% | %.1f | %.1f | %s | %s | %s / %s | %.0f | %.0f |\n' "$2" "$1" "$INTERVAL" "$probes" "$skipped" \
    "$ms_probe" "$share" "$warm" "$(echo "$rss / 1024" | bc -l)" "$(echo "$rss / $2" | bc -l)" "$p50" "$p99" "$w50" "$w99" \
    "$(echo "$scrape * 1000" | bc -l)" "$(echo "$size / 1024" | bc -l)"
  if [ "$1" = basic ]; then per_probe=$ms_probe; fleet_size=$2; fi  # the largest fleet: steady load, fixed costs shared
}
if [ -n "$FLEETS$FULL_FLEETS" ]; then
  echo "| fleet | module | interval | probes | skipped runs | CPU ms/probe | CPU share | CPU share, first interval | RSS MB | RSS KB/target | lag p50 ms | lag p99 ms | window lag p50 / p99 ms | scrape ms | scrape KB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for fleet in $FLEETS; do fleet_config "$fleet" "$INTERVAL"; fleet_row basic "$fleet" "$work/fleet-$fleet.yml"; done
  for fleet in $FULL_FLEETS; do default_config "$fleet" "$INTERVAL"; fleet_row default "$fleet" "$work/fleet-default-$fleet.yml"; done
  echo "(basic: dns, tcp, tls, auth_methods; default: the built-in EWS module against the NTLM lab, lb_affinity measured at each target's first run and then every 10m, ews_login and autodiscover skipping. Probes, CPU and window lag over ${DURATION}s after one interval; lag p50/p99 over every run since start; skipped runs: ewsprobe_scheduler_skipped_runs_total since start; max_concurrency 256)"
  echo
fi
echo "| per-probe CPU (median of $REPS) | ms | vs blackbox | vs libcurl floor |"
echo "|---|---|---|---|"
printf '| libcurl floor (fresh HTTPS POST) | %.2f | | 1.00 |\n' "$floor"
printf '| blackbox_exporter 0.23 http POST | %.2f | 1.00 | %.2f |\n' "$blackbox" "$(echo "$blackbox / $floor" | bc -l)"
printf '| ewsprobe /probe, dns+tcp+tls+auth_methods (curl loop, as blackbox) | %.2f | %.2f | %.2f |\n' "$ondemand" "$(echo "$ondemand / $blackbox" | bc -l)" "$(echo "$ondemand / $floor" | bc -l)"
if [ -n "${per_probe:-}" ]; then
  printf '| ewsprobe serve, %s-target fleet, same checks | %.2f | %.2f | %.2f |\n' "$fleet_size" "$per_probe" "$(echo "$per_probe / $blackbox" | bc -l)" "$(echo "$per_probe / $floor" | bc -l)"
fi

# The concurrent /probe figures: median (min–max) over the reps, and ewsprobe/blackbox per rep.
spread() { # [DIGITS] < numbers -> "median (min–max)"
  sort -g | awk -v f="%.${1:-2}f" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf f " (" f "–" f ")", m, a[1], a[NR]}'; }
bb8=$(cut -d' ' -f1 "$work/conc-blackbox.txt" | median); od8=$(cut -d' ' -f1 "$work/conc-ewsprobe.txt" | median)
echo
echo "| /probe from $CLIENTS concurrent clients, median of $REPS (min–max) | CPU ms per request | ewsprobe / blackbox | vs libcurl floor | requests/s |"
echo "|---|---|---|---|---|"
printf '| blackbox_exporter 0.23 http POST | %s | 1.00 | %.2f | %s |\n' "$(cut -d' ' -f1 "$work/conc-blackbox.txt" | spread)" \
  "$(echo "$bb8 / $floor" | bc -l)" "$(cut -d' ' -f2 "$work/conc-blackbox.txt" | spread 0)"
printf '| ewsprobe /probe, dns+tcp+tls+auth_methods | %s | %.2f (per rep %s) | %.2f | %s |\n' "$(cut -d' ' -f1 "$work/conc-ewsprobe.txt" | spread)" \
  "$(echo "$od8 / $bb8" | bc -l)" "$(paste -d' ' "$work/conc-ewsprobe.txt" "$work/conc-blackbox.txt" | awk '{print $1 / $3}' | spread)" \
  "$(echo "$od8 / $floor" | bc -l)" "$(cut -d' ' -f2 "$work/conc-ewsprobe.txt" | spread 0)"
echo "($N8 requests a rep and server, $conn_text, reps alternating which server goes first; every answer a 200 with the probe passing)"

# 4. The directory: ewsprobe's directory probe beside ldapsearch on one slapd.
echo
if $smoke; then Benchmarks/ldap.sh "$EWSPROBE" --smoke; else Benchmarks/ldap.sh "$EWSPROBE"; fi
