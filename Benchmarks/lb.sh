#!/usr/bin/env bash
# What the full EWS module costs beside the basic probe, and the basic probe beside a bare TLS
# handshake: CPU per /probe request of two serves side by side on the same target, HAProxy
# (Debian's /usr/sbin/haproxy, `balance source`, so the farm is sticky) terminating TLS with a lab
# certificate in front of two pyspnego NTLM backends (Tests/EWSProbeTests/Support/ntlm_backend.py;
# neither HAProxy's nor the backends' CPU is counted):
#   basic   dns, tcp, tls, auth_methods
#   full    the default EWS module: dns, tcp, tls, auth_methods, forms_auth, lb_affinity (census 6,
#           legs 4 on the census's first connection: 9 NTLM NEGOTIATEs on 6 connections, 5 of them
#           resuming TLS), ews_login and autodiscover (no credentials and no address: both skip)
#   full-fresh  the same with lb_affinity's tls_resumption off (6 full handshakes)
# Then the scheduled path: three fleets side by side, basic, full with lb_affinity at every run,
# and full with lb_affinity every ten intervals (check_intervals), CPU per run.
# Every /probe must pass (full: lb_affinity passes with one backend). The floor is a bare TLS
# handshake: `openssl s_time -new` against the same HAProxy port, its client CPU (GNU time's
# user + system) divided by the connections it made, once per round.
#   Benchmarks/lb.sh BINARY [ROUNDS]        (--smoke: one short round)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?binary}
ROUNDS=${2:-5}
N=${BENCH_REQUESTS:-200}
HS_TIME=${BENCH_HANDSHAKE_SECONDS:-5}
smoke=false
if [ "${2:-}" = --smoke ] || [ "${1:-}" = --smoke ]; then BIN=${EWSPROBE_BINARY:-.build-rel/release/ewsprobe}; ROUNDS=1; N=10; HS_TIME=1; smoke=true; fi
for p in haproxy time bc curl; do
  [ -x "/usr/sbin/$p" ] || [ -x "/usr/bin/$p" ] || dpkg -s "$p" >/dev/null 2>&1 ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p"; }
done
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
work=$(mktemp -d "/tmp/ewsprobe-lbbench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"' EXIT
tck=$(getconf CLK_TCK)

lab_pki "$work" mail.bench.test DNS:mail.bench.test
cat "$work/leaf.pem" "$work/leaf.key" >"$work/haproxy.pem"
# The backends need an account file only for an AUTHENTICATE, which nothing here sends.
printf ':svc@bench.test:Bench-Passw0rd!\n' >"$work/ntlm-users"
servers=""
for name in CAS1 CAS2; do
  bp=$(port)
  NTLM_USER_FILE="$work/ntlm-users" python3 Tests/EWSProbeTests/Support/ntlm_backend.py "$bp" "$name" ntlm >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$bp" || { echo "lb bench: backend $name did not start: $(tail -5 "$work/$name.log")" >&2; exit 1; }
  servers+="  server ${name,,} 127.0.0.1:$bp"$'\n'
done
LB=$(port)
cat >"$work/haproxy.cfg" <<CONF
global
  maxconn 1024
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend ews
  bind 127.0.0.1:$LB ssl crt $work/haproxy.pem
  default_backend cas
backend cas
  balance source
$servers
CONF
/usr/sbin/haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
wait_port "$LB" || { echo "lb bench: HAProxy did not start: $(tail -5 "$work/haproxy.log")" >&2; exit 1; }

config() { # name checks [module settings]
  { echo "global: {interval: 3600s, timeout: 10s}"
    echo "modules:"
    echo "  $1: {checks: [$2]${3:+, $3}}"
    echo "targets:"
    echo "  - {name: t1, url: \"https://mail.bench.test:$LB/EWS/Exchange.asmx\", module: $1, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$LB:127.0.0.1\"]}"
  } >"$work/$1.yml"; }
config basic "dns, tcp, tls, auth_methods"
config full "dns, tcp, tls, auth_methods, forms_auth, lb_affinity, ews_login, autodiscover"
# The same without TLS resumption in the census: six full handshakes (the trade-off's cost).
config full-fresh "dns, tcp, tls, auth_methods, forms_auth, lb_affinity, ews_login, autodiscover" "lb_affinity: {tls_resumption: false}"
# What every /probe must show (grep -E, one line each).
pass='^ewsprobe_probe_success\{target="t1"\} 1$'
declare -A expect=([basic]="$pass"
  [full]="$pass"$'\n''^ewsprobe_check_success\{target="t1",check="lb_affinity"\} 1$'$'\n''^ewsprobe_lb_backends\{target="t1",address="127\.0\.0\.1"\} 1$')
# And the first: each check's verdict (all pass; ews_login, without credentials, and autodiscover,
# without an address, skip). A pattern after "!" must not show.
declare -A first=([basic]='^ewsprobe_check_success\{target="t1",check="auth_methods"\} 1$'
  [full]='^ewsprobe_check_success\{target="t1",check="forms_auth"\} 1$
^ewsprobe_check_success\{target="t1",check="auth_methods"\} 1$
^ewsprobe_lb_affinity_ratio\{target="t1",address="127\.0\.0\.1"\} 1$
^ewsprobe_check_duration_seconds\{target="t1",check="ews_login"\}
!^ewsprobe_check_success\{target="t1",check="ews_login"\}
^ewsprobe_check_failure_info\{target="t1",check="autodiscover",status="skip",reason="no_address"\} 1$
!^ewsprobe_check_success\{target="t1",check="autodiscover"\}')

expect[full-fresh]=${expect[full]}
first[full-fresh]=${first[full]}
verify() { # mode reply patterns
  local pattern
  while IFS= read -r pattern; do
    case $pattern in
      '') ;;
      !*) ! grep -Eq "${pattern#!}" <<<"$2" || { echo "lb bench: a /probe of $1 shows ${pattern#!}: $2" >&2; return 1; } ;;
      *) grep -Eq "$pattern" <<<"$2" || { echo "lb bench: a /probe of $1 does not show $pattern: $2" >&2; return 1; } ;;
    esac
  done <<<"$3"
}

serve() { # mode -> "PORT PID"
  local port pid reply
  port=$(port)
  "$BIN" serve --config "$work/$1.yml" --listen "127.0.0.1:$port" --log-level error >/dev/null 2>&1 & pid=$!
  wait_port "$port"
  reply=$(curl -s "http://127.0.0.1:$port/probe?target=t1")
  verify "$1" "$reply" "${expect[$1]}"$'\n'"${first[$1]}" || { kill $pid; exit 1; }
  echo "$port $pid"
}

handshake() { # -> CPU ms (client user + system) per fresh TLS handshake
  local out conns
  out=$( { /usr/bin/time -f "TIME %U %S" openssl s_time -connect "127.0.0.1:$LB" -new -time "$HS_TIME" >"$work/s_time.txt" || true; } 2>&1 )
  conns=$(awk '/connections in .* real seconds/ {print $1; exit}' "$work/s_time.txt")
  [ -n "$conns" ] && [ "$conns" -gt 0 ] || { echo "lb bench: openssl s_time made no connection: $(cat "$work/s_time.txt") $out" >&2; exit 1; }
  awk -v c="$conns" '/^TIME / {printf "%.6f\n", ($2 + $3) * 1000 / c}' <<<"$out"
}

modes=(basic full full-fresh)
for round in $(seq "$ROUNDS"); do
  declare -A port=() pid=() before=()
  for mode in "${modes[@]}"; do read -r port[$mode] pid[$mode] <<<"$(serve "$mode")"; pids+=("${pid[$mode]}"); done
  order=("${modes[@]}")
  [ $((round % 2)) -eq 0 ] && order=(full-fresh full basic)
  # The floor's turn alternates too: before the requests in odd rounds, after them in even ones.
  if [ $((round % 2)) -eq 1 ]; then handshake >>"$work/floor.txt"; fi
  for mode in "${modes[@]}"; do before[$mode]=$(cpu_ticks "${pid[$mode]}"); done
  for _ in $(seq "$N"); do
    for mode in "${order[@]}"; do
      reply=$(curl -s "http://127.0.0.1:${port[$mode]}/probe?target=t1")
      verify "$mode" "$reply" "${expect[$mode]}" || exit 1
      if [ "$mode" = full ]; then printf '%s\n' "$reply" >"$work/full.last"; fi
    done
  done
  for mode in "${modes[@]}"; do
    ms=$(echo "($(cpu_ticks "${pid[$mode]}") - ${before[$mode]}) * 1000 / $tck / $N" | bc -l)
    kill "${pid[$mode]}"; wait "${pid[$mode]}" 2>/dev/null || true
    echo "$ms" >>"$work/$mode.txt"
    printf 'round %s %s: %.3f ms CPU per /probe\n' "$round" "$mode" "$ms" >&2
  done
  if [ $((round % 2)) -eq 0 ]; then handshake >>"$work/floor.txt"; fi
  printf 'round %s handshake: %.3f ms CPU per fresh TLS handshake (openssl s_time)\n' "$round" "$(tail -1 "$work/floor.txt")" >&2
done
stat() { sort -g "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f (%.3f–%.3f)", m, a[1], a[NR]}'; }
med() { median <"$1"; }
ratio() { printf '%.2f' "$(echo "$(med "$1") / $(med "$2")" | bc -l)"; }
echo "| mode | CPU ms per probe, median (min–max) | ratio to basic | ratio to the handshake floor |"
echo "|---|---|---|---|"
echo "| basic: dns, tcp, tls, auth_methods (\`serve\`, /probe) | $(stat "$work/basic.txt") | 1.00 | $(ratio "$work/basic.txt" "$work/floor.txt") |"
echo "| full: the default EWS module, lb_affinity census 6 + legs 4 (\`serve\`, /probe) | $(stat "$work/full.txt") | $(ratio "$work/full.txt" "$work/basic.txt") | $(ratio "$work/full.txt" "$work/floor.txt") |"
echo "| full without TLS resumption (\`lb_affinity: {tls_resumption: false}\`, /probe) | $(stat "$work/full-fresh.txt") | $(ratio "$work/full-fresh.txt" "$work/basic.txt") | $(ratio "$work/full-fresh.txt" "$work/floor.txt") |"
echo "| floor: one fresh TLS handshake (\`openssl s_time -new\`, client CPU) | $(stat "$work/floor.txt") | $(ratio "$work/floor.txt" "$work/basic.txt") | 1.00 |"
echo "($ROUNDS rounds, the three serves side by side taking requests in turn against HAProxy (balance source, TLS) in front of 2 NTLM backends; median (min–max); $N requests per round and mode; the floor ${HS_TIME} s of s_time per round)"
# Where full's time goes (wall time of each check in the last /probe, not CPU).
echo "full's checks in its last /probe, wall ms: $(awk -F'[",}]+' '/^ewsprobe_check_duration_seconds\{/ {printf "%s%s %.1f", sep, $4, $NF * 1000; sep = ", "}' "$work/full.last")"

# The scheduled path: fleets side by side, each target run every INTERVAL seconds. `full` measures
# lb_affinity at every run; `full-interval` carries its passing verdict between runs ten
# intervals apart (check_intervals, the default ratio: a 60 s target and lb_affinity every 10m).
$smoke && exit 0
# 100 targets every 4 s: 25 runs a second, so a scheduler wave (500 ms) starts about 12.
FLEET=${BENCH_FLEET:-100}
INTERVAL=${BENCH_INTERVAL:-4}
WINDOW=${BENCH_WINDOW:-80}
fleet() { # name checks check_intervals
  { echo "global: {interval: ${INTERVAL}s, timeout: 3s, max_concurrency: 64}"
    echo "modules:"
    echo "  m: {checks: [$2], check_intervals: {$3}}"
    echo "targets:"
    for i in $(seq "$FLEET"); do
      echo "  - {name: t$i, url: \"https://mail.bench.test:$LB/EWS/Exchange.asmx\", module: m, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$LB:127.0.0.1\"]}"
    done
  } >"$work/sched-$1.yml"; }
fleet basic "dns, tcp, tls, auth_methods" "lb_affinity: 1s"
fleet full "dns, tcp, tls, auth_methods, forms_auth, lb_affinity, ews_login, autodiscover" "lb_affinity: 1s"
fleet full-interval "dns, tcp, tls, auth_methods, forms_auth, lb_affinity, ews_login, autodiscover" "lb_affinity: $((INTERVAL * 10))s"
runs_total() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^ewsprobe_probe_runs_total/ {s += $2} END {print s + 0}'; }
smodes=(basic full full-interval)
declare -A sport=() spid=() c0=() r0=()
for mode in "${smodes[@]}"; do
  sport[$mode]=$(port)
  "$BIN" serve --config "$work/sched-$mode.yml" --listen "127.0.0.1:${sport[$mode]}" --log-level error >/dev/null 2>&1 &
  spid[$mode]=$!; pids+=("${spid[$mode]}")
  wait_port "${sport[$mode]}"
done
# Past one lb_affinity interval: every target has measured it once and the cycle is steady.
# Then WINDOWS consecutive windows, each a figure per mode (median and spread printed).
sleep $((INTERVAL * 10 + INTERVAL + 2))
WINDOWS=${BENCH_WINDOWS:-3}
for w in $(seq "$WINDOWS"); do
  for mode in "${smodes[@]}"; do c0[$mode]=$(cpu_ticks "${spid[$mode]}"); r0[$mode]=$(runs_total "${sport[$mode]}"); done
  sleep "$WINDOW"
  for mode in "${smodes[@]}"; do
    c1=$(cpu_ticks "${spid[$mode]}"); r1=$(runs_total "${sport[$mode]}")
    echo "($c1 - ${c0[$mode]}) * 1000 / $tck / ($r1 - ${r0[$mode]})" | bc -l >>"$work/sched-$mode.txt"
    printf 'window %s scheduled %s: %.3f ms CPU per run\n' "$w" "$mode" "$(tail -1 "$work/sched-$mode.txt")" >&2
  done
done
for mode in "${smodes[@]}"; do
  text=$(curl -s "http://127.0.0.1:${sport[$mode]}/metrics")
  passing=$(grep -cE '^ewsprobe_probe_success\{target="t[0-9]+"\} 1$' <<<"$text" || true)
  [ "$passing" = "$FLEET" ] || { echo "lb bench: scheduled $mode: $passing of $FLEET targets pass" >&2; exit 1; }
  if [ "$mode" = full-interval ]; then
    grep -qE '^ewsprobe_check_result_age_seconds\{target="t[0-9]+",check="lb_affinity"\} [1-9]' <<<"$text" ||
      { echo "lb bench: scheduled $mode carries no lb_affinity verdict" >&2; exit 1; }
  fi
  kill "${spid[$mode]}"; wait "${spid[$mode]}" 2>/dev/null || true
done
echo
echo "| scheduled, $FLEET targets every ${INTERVAL}s | CPU ms per run, median (min–max) | ratio to basic | ratio to the handshake floor |"
echo "|---|---|---|---|"
echo "| basic | $(stat "$work/sched-basic.txt") | 1.00 | $(ratio "$work/sched-basic.txt" "$work/floor.txt") |"
echo "| full, lb_affinity at every run | $(stat "$work/sched-full.txt") | $(ratio "$work/sched-full.txt" "$work/sched-basic.txt") | $(ratio "$work/sched-full.txt" "$work/floor.txt") |"
echo "| full, lb_affinity every 10 intervals (check_intervals) | $(stat "$work/sched-full-interval.txt") | $(ratio "$work/sched-full-interval.txt" "$work/sched-basic.txt") | $(ratio "$work/sched-full-interval.txt" "$work/floor.txt") |"
echo "($WINDOWS windows of ${WINDOW}s after $((INTERVAL * 11 + 2))s of warm-up; the three serves at once; every target passing, the carried verdicts present)"
