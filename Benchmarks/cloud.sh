#!/usr/bin/env bash
# What a cloud connector probe costs: CPU per /probe request of a Microsoft 365 target with a warm
# token cache, against the cloud lab (Tests/EWSProbeTests/Support/cloud_lab.py: the Authlib
# authority, Graph and Exchange Online on one loopback HTTPS port; the lab's own CPU is not
# counted). Three serves side by side, taking their requests in turn:
#   m365      the default module: dns, tcp and tls on login, graph and outlook, oauth_token
#             (token from the cache), mailbox_api (Graph GET), exo_ews (EWS POST, its own token)
#   m365-api  oauth_token, mailbox_api and exo_ews only (the connection checks left out)
#   google    the Google default module: dns, tcp, tls on two hosts, oauth_token, mailbox_api
# Every /probe must pass, and the lab must have issued each serve's tokens once (warm cache).
#   Benchmarks/cloud.sh BINARY [ROUNDS]        (--smoke: one short round)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?binary}
ROUNDS=${2:-5}
N=${BENCH_REQUESTS:-300}
if [ "${2:-}" = --smoke ] || [ "${1:-}" = --smoke ]; then BIN=${EWSPROBE_BINARY:-.build-rel/release/ewsprobe}; ROUNDS=1; N=20; fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
work=$(mktemp -d "/tmp/ewsprobe-cloudbench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"' EXIT
tck=$(getconf CLK_TCK)
LAB=$(port)
mkdir -p "$work/lab"
python3 Tests/EWSProbeTests/Support/cloud_lab.py --dir "$work/lab" --port "$LAB" >"$work/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "ready $LAB" "$work/lab.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready $LAB" "$work/lab.log" || { echo "cloud bench: the lab did not start: $(tail -5 "$work/lab.log")" >&2; exit 1; }
field() { python3 -c "import json,sys; print(json.load(open('$work/lab/lab.json'))['cases'][sys.argv[1]][sys.argv[2]])" "$1" "$2"; }
resolve="[\"login.cloud.test:$LAB:127.0.0.1\", \"graph.cloud.test:$LAB:127.0.0.1\", \"outlook.cloud.test:$LAB:127.0.0.1\", \"oauth2.cloud.test:$LAB:127.0.0.1\", \"gmail.cloud.test:$LAB:127.0.0.1\"]"
m365() { # module-line
  echo "global: {interval: 3600s, timeout: 10s}"
  echo "modules: {api: {checks: [oauth_token, mailbox_api, exo_ews]}}"
  echo "targets:"
  echo "  - name: t1"
  echo "    m365: {tenant: contoso.test, client_id: $(field good-secret client_id), client_secret_file: $(field good-secret secret_file),"
  echo "      authority: \"https://login.cloud.test:$LAB\", graph: \"https://graph.cloud.test:$LAB\", exchange: \"https://outlook.cloud.test:$LAB\"}"
  echo "    mailbox_check: $(field good-secret mailbox)"
  echo "    ca_file: $work/lab/ca.pem"
  echo "    resolve: $resolve"
  echo "$1"
}
m365 "" >"$work/m365.yml"
m365 "    module: api" >"$work/m365-api.yml"
{ echo "global: {interval: 3600s, timeout: 10s}"
  echo "targets:"
  echo "  - name: t1"
  echo "    google_workspace: {service_account_file: $(field google-good service_account_file), api: \"https://gmail.cloud.test:$LAB\"}"
  echo "    mailbox_check: $(field google-good mailbox)"
  echo "    ca_file: $work/lab/ca.pem"
  echo "    resolve: $resolve"
} >"$work/google.yml"
declare -A expect=([m365]='ewsprobe_exo_ews_success{target="t1"} 1' [m365-api]='ewsprobe_exo_ews_success{target="t1"} 1'
  [google]='ewsprobe_mailbox_api_success{target="t1"} 1')

tokens() { grep -c '"path": "[^"]*/token"' "$work/lab/requests.log" 2>/dev/null || true; }
serve() { # mode -> "PORT PID"
  local port pid reply
  port=$(port)
  "$BIN" serve --config "$work/$1.yml" --listen "127.0.0.1:$port" --log-level error >/dev/null 2>&1 & pid=$!
  wait_port "$port"
  # The first /probe fills the token cache; every later one must find it.
  reply=$(curl -s "http://127.0.0.1:$port/probe?target=t1")
  for pattern in 'ewsprobe_probe_success{target="t1"} 1' "${expect[$1]}"; do
    grep -qF "$pattern" <<<"$reply" || { echo "cloud bench: /probe of $1 does not show $pattern: $reply" >&2; kill $pid; exit 1; }
  done
  echo "$port $pid"
}

modes=(m365 m365-api google)
for round in $(seq "$ROUNDS"); do
  declare -A port=() pid=() before=()
  for mode in "${modes[@]}"; do read -r port[$mode] pid[$mode] <<<"$(serve "$mode")"; pids+=("${pid[$mode]}"); done
  issued=$(tokens)
  order=("${modes[@]}")
  [ $((round % 2)) -eq 0 ] && order=(google m365-api m365)
  for mode in "${modes[@]}"; do before[$mode]=$(cpu_ticks "${pid[$mode]}"); done
  for _ in $(seq "$N"); do
    for mode in "${order[@]}"; do
      reply=$(curl -s "http://127.0.0.1:${port[$mode]}/probe?target=t1")
      grep -qF 'ewsprobe_probe_success{target="t1"} 1' <<<"$reply" || { echo "cloud bench: a /probe of $mode failed: $reply" >&2; exit 1; }
    done
  done
  for mode in "${modes[@]}"; do
    ms=$(echo "($(cpu_ticks "${pid[$mode]}") - ${before[$mode]}) * 1000 / $tck / $N" | bc -l)
    kill "${pid[$mode]}"; wait "${pid[$mode]}" 2>/dev/null || true
    echo "$ms" >>"$work/$mode.txt"
    printf 'round %s %s: %.3f ms CPU per /probe\n' "$round" "$mode" "$ms" >&2
  done
  [ "$(tokens)" = "$issued" ] || { echo "cloud bench: tokens were issued during the timed requests (cache cold)" >&2; exit 1; }
done
stat() { sort -g "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f (%.3f–%.3f)", m, a[1], a[NR]}'; }
echo "| cloud connector probe, token cache warm | ewsprobe CPU ms per run |"
echo "|---|---|"
echo "| Microsoft 365, default module (dns, tcp, tls on 3 hosts; oauth_token; Graph GET; EWS POST) | $(stat "$work/m365.txt") |"
echo "| Microsoft 365, oauth_token, mailbox_api, exo_ews only | $(stat "$work/m365-api.txt") |"
echo "| Google Workspace, default module (dns, tcp, tls on 2 hosts; oauth_token; Gmail GET) | $(stat "$work/google.txt") |"
echo "($ROUNDS rounds, the three serves side by side taking requests in turn; median (min–max); $N requests per round and mode)"
