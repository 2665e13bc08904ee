#!/usr/bin/env bash
# Soak: `serve` with a mixed fleet of healthy and hostile targets for a while; samples RSS, open
# descriptors, scheduler lag and skipped runs, then checks the goals (RSS growth < 5 % after
# warm-up, no descriptor growth, no skipped schedules).
#   scripts/soak.sh                 500 targets, 10 minutes (2 of them warm-up)
#   SOAK_TARGETS=100 SOAK_MINUTES=2 scripts/soak.sh
#   SOAK_BINARY=.build-asan/debug/ewsprobe scripts/soak.sh   (a LeakSanitizer build; see README)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=${SOAK_TARGETS:-500}
MINUTES=${SOAK_MINUTES:-10}
INTERVAL=${SOAK_INTERVAL:-15}
# Warm-up: until the status history (10 runs) is full, at least a fifth of the run.
WARMUP=$(( MINUTES * 60 / 5 > INTERVAL * 12 ? MINUTES * 60 / 5 : INTERVAL * 12 ))
scripts/setup.sh --test >/dev/null
# shellcheck source=lib.sh
. scripts/lib.sh
if [ -z "${SOAK_BINARY:-}" ]; then swift build -c release --product ewsprobe >/dev/null; fi
EWSPROBE=${SOAK_BINARY:-.build/release/ewsprobe}
work=$(mktemp -d /tmp/ewsprobe-soak.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

NGINX_PORT=$(port)
pids+=("$(lab_tls "$work" "$NGINX_PORT")")
printf 'soak-password\n' >"$work/password"; chmod 600 "$work/password"
# One hostile server per misbehaviour (Tests/EWSProbeTests/Support/hostile_server.py).
modes=(silent drip reset-tls garbage headers-1mib body-100mib many-auth ntlm-truncated ntlm-offsets ntlm-huge-av ntlm-close
  soap-notxml soap-nested soap-huge closed)
# Credentials go only over verified TLS: the modes probed with them speak TLS (the lab's certificate).
credential_modes=" ntlm-close soap-notxml soap-nested soap-huge "
declare -A mode_port
for mode in "${modes[@]}"; do
  p=$(port); mode_port[$mode]=$p
  [ "$mode" = closed ] && continue
  if [[ $credential_modes == *" $mode "* ]]; then
    TLS_CERT="$work/leaf.pem" TLS_KEY="$work/leaf.key" python3 Tests/EWSProbeTests/Support/hostile_server.py "$p" "$mode" >/dev/null 2>&1 &
  else
    python3 Tests/EWSProbeTests/Support/hostile_server.py "$p" "$mode" >/dev/null 2>&1 &
  fi
  pids+=($!)
done
for mode in "${modes[@]}"; do [ "$mode" = closed ] || wait_port "${mode_port[$mode]}"; done

healthy=$(( TARGETS * 3 / 5 ))
{
  echo "global: {interval: ${INTERVAL}s, timeout: $(( INTERVAL / 3 < 5 ? INTERVAL / 3 : 5 ))s, max_concurrency: 64}"
  echo "modules:"
  echo "  full: {checks: [dns, tcp, tls, auth_methods, forms_auth, lb_affinity], tls: {warn_days: 1, fail_days: 0}}"
  echo "  plain: {checks: [dns, tcp, auth_methods, forms_auth, lb_affinity, ews_login]}"
  echo "targets:"
  for i in $(seq "$healthy"); do
    echo "  - {name: ok$i, url: \"https://mail.bench.test:$NGINX_PORT/EWS/Exchange.asmx\", module: full, ca_file: $work/ca.pem, resolve: [\"mail.bench.test:$NGINX_PORT:127.0.0.1\"]}"
  done
  for i in $(seq $(( TARGETS - healthy ))); do
    mode=${modes[$(( i % ${#modes[@]} ))]}
    scheme=http; module=plain; host=bad.soak.test; extra=""
    case "$mode" in reset-tls|garbage) scheme=https; module=full ;; esac
    if [[ $credential_modes == *" $mode "* ]]; then
      scheme=https; host=mail.bench.test
      extra=", ca_file: $work/ca.pem, username: svc@soak.example.com, password_file: $work/password"
    fi
    echo "  - {name: bad$i-$mode, url: \"$scheme://$host:${mode_port[$mode]}/EWS/Exchange.asmx\", module: $module, resolve: [\"$host:${mode_port[$mode]}:127.0.0.1\"]$extra}"
  done
} >"$work/soak.yml"

P=$(port)
"$EWSPROBE" serve --config "$work/soak.yml" --listen "127.0.0.1:$P" --log-level error 2>"$work/serve.log" & S=$!; pids+=($S)
wait_port "$P" || { cat "$work/serve.log" >&2; exit 1; }
echo "soak: $TARGETS targets ($healthy healthy), ${INTERVAL}s interval, $MINUTES min, binary $EWSPROBE, work dir $work"
echo "| minute | RSS MB | fds | runs | skipped | lag p50 ms | lag p99 ms | in flight |"
echo "|---|---|---|---|---|---|---|---|"
metric() { curl -s "http://127.0.0.1:$P/metrics" | awk -v n="$1" 'index($0, n) == 1 {s += $NF} END {print s + 0}'; }
start=$(date +%s)
samples="$work/samples.txt"
: >"$samples"
while :; do
  now=$(date +%s); elapsed=$(( now - start ))
  rss=$(rss_kb $S); fds=$(fd_count $S)
  runs=$(metric ewsprobe_probe_runs_total); skipped=$(metric ewsprobe_scheduler_skipped_runs_total)
  inflight=$(metric ewsprobe_probes_in_flight)
  read -r p50 p99 < <(lag_quantiles $P)
  echo "$elapsed $rss $fds $runs $skipped" >>"$samples"
  printf '| %.1f | %.1f | %s | %s | %s | %s | %s | %s |\n' "$(echo "$elapsed / 60" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
    "$fds" "$runs" "$skipped" "$p50" "$p99" "$inflight"
  [ "$elapsed" -ge $(( MINUTES * 60 )) ] && break
  sleep 30
done
kill -0 $S || { echo "serve died" >&2; exit 1; }
# A graceful stop, so a LeakSanitizer build reports at exit.
kill -TERM $S; wait $S 2>/dev/null || true
if grep -q "LeakSanitizer" "$work/serve.log"; then
  echo "LeakSanitizer reported leaks:"; grep -A12 "LeakSanitizer" "$work/serve.log" | head -40
elif [ -n "${SOAK_BINARY:-}" ]; then
  echo "LeakSanitizer: no leak reported at exit ($(grep -c . "$work/serve.log") log lines)"
fi
python3 - "$samples" "$WARMUP" "$TARGETS" "$INTERVAL" <<'PY'
import sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
warmup, targets, interval = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
after = [r for r in rows if r[0] >= warmup]
base, end = after[0], rows[-1]
growth = (end[1] - base[1]) / base[1] * 100
expected = targets * (end[0] - base[0]) / interval
print()
print("RSS after warm-up %.1f MB, at the end %.1f MB: %+.1f %% (goal < 5 %%)" % (base[1] / 1024, end[1] / 1024, growth))
print("descriptors after warm-up %d, at the end %d, max %d" % (base[2], end[2], max(r[2] for r in after)))
print("runs after warm-up %d of about %d scheduled; skipped schedules in all: %d" % (end[3] - base[3], expected, end[4]))
ok = growth < 5 and end[2] <= base[2] + 8 and end[4] == 0
print("soak goals:", "met" if ok else "NOT met")
sys.exit(0 if ok else 1)
PY
