#!/usr/bin/env bash
# CPU per directory probe: ewsprobe (dns, tcp, tls, ldap with bind and search) beside
# ldapsearch doing a bind and the same search over LDAPS in a loop, same slapd, same run.
#   Benchmarks/ldap.sh BINARY [--smoke]
# ewsprobe's probe does more: its own TLS handshake for `tls` (OpenSSL) and libldap's for the
# session (GnuTLS), the RootDSE and the account's entry; ldapsearch one handshake, bind, search.
set -euo pipefail
cd "$(dirname "$0")/.."
EWSPROBE=${1:?binary}
if [ "${2:-}" = "--smoke" ]; then N=20; FLEET=20; WINDOW=6; INTERVAL=3; REPS=1; else N=300; FLEET=${BENCH_LDAP_FLEET:-200}; WINDOW=40; INTERVAL=10; REPS=3; fi
work=$(mktemp -d /tmp/ewsprobe-ldap-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
# shellcheck source=../scripts/lib.sh
. scripts/lib.sh
tck=$(getconf CLK_TCK)
lab_pki "$work" ldap.bench.test DNS:ldap.bench.test,IP:127.0.0.1
LDAP_PORT=$(port); LDAPS_PORT=$(port)
python3 Tests/EWSProbeTests/Support/ldap_lab.py --dir "$work/slapd" --ldap-port "$LDAP_PORT" --ldaps-port "$LDAPS_PORT" \
  --cert "$work/leaf.pem" --key "$work/leaf.key" --ppolicy >"$work/slapd.out" 2>&1 & pids+=($!)
wait_port "$LDAPS_PORT"
DN="uid=svc-sync,ou=people,dc=example,dc=com"
PASSWORD='Svc-Sync-Pass-1!'
printf '%s' "$PASSWORD" >"$work/svc.password"; chmod 600 "$work/svc.password"

# ldapsearch: the children's CPU per run (getrusage), median of REPS.
oracle=$(for _ in $(seq "$REPS"); do
  LDAPTLS_CACERT="$work/ca.pem" python3 - "$N" "$LDAPS_PORT" "$DN" "$PASSWORD" <<'PY'
import resource, subprocess, sys
n, port, dn, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
for _ in range(n):
    subprocess.run(["ldapsearch", "-x", "-H", f"ldaps://127.0.0.1:{port}", "-D", dn, "-w", password, "-b", "dc=example,dc=com",
                    "(|(mail=user@example.com)(proxyAddresses=smtp:user@example.com))", "mail"], check=True, stdout=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print((u.ru_utime + u.ru_stime) * 1000 / n)
PY
done | median)

# ewsprobe serve: a fleet of directory targets on the same slapd.
{ echo "global: {interval: ${INTERVAL}s, timeout: $(( INTERVAL < 6 ? INTERVAL - 1 : 5 ))s, max_concurrency: 64}"
  echo "modules:"; echo "  dir: {checks: [dns, tcp, tls, ldap], ca_file: $work/ca.pem}"
  echo "targets:"
  for i in $(seq "$FLEET"); do
    echo "  - {name: d$i, url: \"ldaps://ldap.bench.test:$LDAPS_PORT\", module: dir, username: \"$DN\", password_file: $work/svc.password, mailbox_check: user@example.com, resolve: [\"ldap.bench.test:$LDAPS_PORT:127.0.0.1\"]}"
  done
} >"$work/fleet.yml"
P=$(port)
"$EWSPROBE" serve --config "$work/fleet.yml" --listen "127.0.0.1:$P" --log-level error & S=$!; pids+=($S)
wait_port "$P"
# Every target has run once (first runs are spread over the interval): steady state from here.
for _ in $(seq $(( INTERVAL * 4 ))); do
  # Through a file: grep -q ends early and pipefail would count curl's broken pipe.
  curl -s -o "$work/metrics.txt" "http://127.0.0.1:$P/metrics"
  grep -q 'ewsprobe_probe_runs_total{target="d1"} [1-9]' "$work/metrics.txt" && break
  sleep 0.5
done
sleep 2
runs() { curl -s "http://127.0.0.1:$P/metrics" | awk '/^ewsprobe_probe_runs_total/ {s += $2} END {print s + 0}'; }
curl -s -o "$work/metrics.txt" "http://127.0.0.1:$P/metrics"
if ! grep -q 'ewsprobe_probe_success{target="d1"} 1' "$work/metrics.txt"; then
  echo "the directory probe does not pass:" >&2
  grep -E "\{target=.d1.[,}]" "$work/metrics.txt" | grep -E "success|failure|runs" >&2
  exit 1
fi
c0=$(cpu_ticks $S); r0=$(runs)
sleep "$WINDOW"
c1=$(cpu_ticks $S); r1=$(runs)
probe=$(echo "($c1 - $c0) * 1000 / $tck / ($r1 - $r0)" | bc -l)
echo "| per directory probe (LDAPS, bind, search) | CPU ms | vs ldapsearch |"
echo "|---|---|---|"
printf '| ldapsearch -H ldaps://… -D … -b … (bind + search; process start included) | %.2f | 1.00 |\n' "$oracle"
printf '| ewsprobe serve, %s directory targets (dns, tcp, tls, ldap: two handshakes, RootDSE, bind, search, account) | %.2f | %.2f |\n' \
  "$FLEET" "$probe" "$(echo "$probe / $oracle" | bc -l)"
