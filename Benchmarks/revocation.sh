#!/usr/bin/env bash
# What revocation costs a probe: CPU per /probe request of one binary probing the same TLS site
# of the revocation lab (Tests/EWSProbeTests/Support/revocation_lab.py: nginx, a CRL and an OCSP
# responder on loopback) with `tls.revocation: off`, and with it on and the cache warm (the site's
# CRL; a stapled site), in one run, rotating which goes first each round. The cold fetch (an empty
# cache: the CRLs fetched, parsed and their signatures verified) is `ewsprobe probe` as a whole
# process, on against off.
#   Benchmarks/revocation.sh BINARY [ROUNDS]        (--smoke: one short round, CI keeps it from rotting)
# The module is dns, tcp, tls: the handshake and the lookups, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?binary}
ROUNDS=${2:-5}
N=${BENCH_REQUESTS:-400}
COLD=${BENCH_COLD:-40}
if [ "${2:-}" = --smoke ] || [ "${1:-}" = --smoke ]; then BIN=${EWSPROBE_BINARY:-.build-rel/release/ewsprobe}; ROUNDS=1; N=20; COLD=4; fi
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
work=$(mktemp -d "/tmp/ewsprobe-revbench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"' EXIT
tck=$(getconf CLK_TCK)
TLS=$(port) HTTP=$(port) OCSP=$(port) HOSTILE=$(port)
python3 Tests/EWSProbeTests/Support/revocation_lab.py --dir "$work/lab" --tls-port "$TLS" --http-port "$HTTP" --ocsp-port "$OCSP" \
  --hostile-port "$HOSTILE" >"$work/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "ready $TLS" "$work/lab.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready $TLS" "$work/lab.log" || { echo "revocation bench: the lab did not start: $(tail -5 "$work/lab.log")" >&2; exit 1; }

target() { # site -> a target line
  echo "  - {name: t1, url: \"https://$1.rev.test:$TLS/EWS/Exchange.asmx\", module: bench, ca_file: $work/lab/root.pem, resolve: [\"$1.rev.test:$TLS:127.0.0.1\"]}"
}
config() { # name site revocation
  { echo "global: {interval: 3600s, timeout: 5s}"
    echo "modules:"; echo "  bench: {checks: [dns, tcp, tls], tls: {revocation: $3}}"
    echo "targets:"; target "$2"
  } >"$work/$1.yml"; }
config off crl-good off
config crl-warm crl-good check
config stapled-warm stapled-good check
# What each mode's /probe must show: the probe passes, and with revocation on, the source it was judged by.
expect_off='^ewsprobe_probe_success\{target="t1"\} 1'
expect_crl='^ewsprobe_tls_revocation_status\{target="t1",address="127.0.0.1",source="crl"\} 0'
expect_stapled='^ewsprobe_tls_revocation_status\{target="t1",address="127.0.0.1",source="stapled"\} 0'

serve() { # mode -> "PORT PID" of a serve warmed up and checked
  local port pid reply
  port=$(port)
  "$BIN" serve --config "$work/$1.yml" --listen "127.0.0.1:$port" --log-level error >/dev/null 2>&1 & pid=$!
  wait_port "$port"
  reply=$(curl -s "http://127.0.0.1:$port/probe?target=t1")  # warms the cache
  for pattern in "$expect_off" "${pattern[$1]}"; do
    grep -Eq "$pattern" <<<"$reply" || { echo "revocation bench: /probe of $1 does not show $pattern: $reply" >&2; kill $pid; exit 1; }
  done
  echo "$port $pid"
}

cold() { # revocation -> CPU ms (user + system) per `ewsprobe probe` process
  local me=$BASHPID total=0 start end
  for _ in $(seq "$COLD"); do
    start=$(awk '{print $16 + $17}' "/proc/$me/stat")
    "$BIN" probe --checks dns,tcp,tls --revocation "$1" --ca-file "$work/lab/root.pem" \
      --resolve "crl-good.rev.test:$TLS:127.0.0.1" "https://crl-good.rev.test:$TLS/EWS/Exchange.asmx" >/dev/null \
      || { echo "revocation bench: probe --revocation $1 did not pass" >&2; exit 1; }
    end=$(awk '{print $16 + $17}' "/proc/$me/stat")
    total=$((total + end - start))
  done
  echo "$total * 1000 / $tck / $COLD" | bc -l
}

modes=(off crl-warm stapled-warm)
declare -A pattern=([off]="$expect_off" [crl-warm]="$expect_crl" [stapled-warm]="$expect_stapled")
# The three serves run side by side and take their requests in turn (the order rotating each
# round), so whatever else the machine does weighs on all three alike.
for round in $(seq "$ROUNDS"); do
  declare -A port=() pid=() before=()
  for mode in "${modes[@]}"; do read -r port[$mode] pid[$mode] <<<"$(serve "$mode")"; pids+=("${pid[$mode]}"); done
  shift_by=$(( (round - 1) % 3 ))
  order=("${modes[@]:$shift_by}" "${modes[@]:0:$shift_by}")
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
  for setting in off check; do
    ms=$(cold "$setting")
    echo "$ms" >>"$work/cold-$setting.txt"
    printf 'round %s cold %s: %.2f ms CPU per probe process\n' "$round" "$setting" "$ms" >&2
  done
done
stat() { sort -g "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f (%.3f–%.3f)", m, a[1], a[NR]}'; }
med() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
echo "| revocation | ewsprobe CPU ms per /probe (dns, tcp, tls) | vs off |"
echo "|---|---|---|"
for mode in "${modes[@]}"; do
  echo "| $mode | $(stat "$work/$mode.txt") | $(printf '%+.1f' "$(echo "($(med "$work/$mode.txt") / $(med "$work/off.txt") - 1) * 100" | bc -l)") % |"
done
echo "| cold fetch: \`probe\` process, check vs off | $(stat "$work/cold-check.txt") vs $(stat "$work/cold-off.txt") | $(printf '%+.2f' "$(echo "$(med "$work/cold-check.txt") - $(med "$work/cold-off.txt")" | bc -l)") ms |"
echo "($ROUNDS rounds, the three serves side by side taking requests in turn; median (min–max); $N requests per round and mode, $COLD processes per cold figure)"
