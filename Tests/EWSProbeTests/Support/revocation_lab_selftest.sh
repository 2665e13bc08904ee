#!/bin/bash
# Proves revocation_lab.py with openssl as the independent judge: starts the lab in a temp dir, asks
# its oracle (openssl verify / ocsp / s_client) about every site and compares with what openssl must
# say, checks nginx's CRL server, the OCSP responder (POST and GET), SNI and the logs, then stops the
# lab three ways (SIGTERM, stdin EOF, SIGKILL) and checks that nothing it started is left running.
# usage: revocation_lab_selftest.sh [-v]   (-v prints every oracle answer and check output)
# Exit 0 when every check passed. Loopback only; everything in a temp dir removed at the end. ~15 s.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB="$HERE/revocation_lab.py"
PY=${PYTHON:-python3}
VERBOSE=${1:-}
WORK=$(mktemp -d /tmp/ewsprobe-revlab-selftest.XXXXXX)
LABPID=
FAILS=0
CHECKS=0
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY  # nothing leaves loopback
cleanup() {
    [ -n "$LABPID" ] && kill "$LABPID" 2>/dev/null
    exec 7>&- 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

pass() { CHECKS=$((CHECKS + 1)); echo "ok   $1"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL $1"; [ $# -gt 1 ] && sed 's/^/     | /' <<<"$2"; }
# check DESC REGEX CMD...: runs CMD (stdout+stderr, exit code appended as `rc=N`), passes when the
# output matches REGEX (grep -E).
check() {
    local desc=$1 regex=$2
    shift 2
    local out
    out=$("$@" 2>&1; echo "rc=$?")
    if grep -Eq -- "$regex" <<<"$out"; then
        pass "$desc"
        [ -n "$VERBOSE" ] && sed 's/^/     | /' <<<"$out"
    else
        fail "$desc" "$(printf 'command: %s\nwanted:  %s\n%s' "$*" "$regex" "$out")"
    fi
}

free_ports() { "$PY" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r T H O X <<<"$(free_ports 4)"

# gone PID: the process has exited (no /proc entry, or a zombie nobody has reaped yet)
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
# wait_gone PID SECONDS
wait_gone() { local i; for i in $(seq 1 $(($2 * 20))); do gone "$1" && return 0; sleep 0.05; done; return 1; }
refuses() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
all_refuse() { local p; for p; do refuses "$p" || return 1; done; }

# start_lab DIR [extra args]: runs the lab in the background (LABPID); stdin is $LAB_STDIN (a
# background command's stdin is otherwise /dev/null, whatever the function call redirects)
start_lab() {
    local dir=$1
    shift
    "$PY" "$LAB" --dir "$dir" --tls-port "$T" --http-port "$H" --ocsp-port "$O" --hostile-port "$X" "$@" \
        <"${LAB_STDIN:-/dev/null}" >"$dir.out" 2>"$dir.err" &
    LABPID=$!
}
await_ready() {
    local dir=$1 i
    for i in $(seq 1 300); do
        grep -qx "ready $T" "$dir.out" 2>/dev/null && return 0
        gone "$LABPID" && break
        sleep 0.1
    done
    echo "FAIL the lab in $dir did not get ready"; cat "$dir.out" "$dir.err"; exit 1
}

echo "== lab up (T=$T H=$H O=$O X=$X)"
# as the Swift tests run it: --exit-on-stdin-eof with a stdin that stays open, stopped by SIGTERM
mkfifo "$WORK/stdin"
exec 7<>"$WORK/stdin"  # the fifo has a writer while fd 7 is open here
D=$WORK/lab
LAB_STDIN=$WORK/stdin start_lab "$D" --exit-on-stdin-eof 7>&-  # 7>&-: the lab must not hold a writer itself
await_ready "$D"
pass "ready $T"
check "startup (PKI + nginx + servers) under 5 s" '"startup_s": [0-4]\.' cat "$D/ready.json"
echo "     $(jq -c '{pki_s, startup_s}' "$D/ready.json")"
NGINX_PID=$(cat "$D/nginx.pid")
check "lab.json lists 22 sites" '^22$' jq '.sites | length' "$D/lab.json"
check "lab.json: every leaf, issuer and chain file exists" '^rc=0$' \
    sh -c "jq -r '.sites[] | .leaf, .issuer, .chain' '$D/lab.json' | xargs ls >/dev/null"

echo "== oracle: what openssl says about every site (all asked at once)"
mkdir -p "$WORK/oracle"
SITES=$(jq -r '.sites | keys[]' "$D/lab.json")
OPIDS=()
for s in $SITES; do
    "$PY" "$LAB" oracle --dir "$D" "$s" >"$WORK/oracle/$s.json" 2>"$WORK/oracle/$s.err" &
    OPIDS+=($!)
done
wait "${OPIDS[@]}"
# expect NAME LAB_EXPECT CRL OCSP STAPLED: the last three are anchored regexes on the oracle's answer
expect() {
    local name=$1 verdict=$2 f="$WORK/oracle/$1.json" got
    got=$(cat "$f" "$WORK/oracle/$1.err" 2>/dev/null)
    [ -n "$VERBOSE" ] && echo "     $name: $got"
    local k re i=3 bad=
    for k in crl ocsp stapled; do
        re=${!i}
        i=$((i + 1))
        jq -e --arg re "^($re)\$" ".${k} | test(\$re)" "$f" >/dev/null 2>&1 || bad="$bad $k"
    done
    [ "$(jq -r ".sites[\"$name\"].expect" "$D/lab.json")" = "$verdict" ] || bad="$bad lab.json-expect"
    if [ -z "$bad" ]; then pass "$name: $(jq -c . "$f")"; else fail "$name: mismatch in$bad" "$got"; fi
}
expect good                 good    good                        good                               none
expect revoked              revoked revoked                     revoked                            none
expect crl-good             good    good                        none                               none
expect crl-revoked          revoked revoked                     none                               none
expect ocsp-good            good    none                        good                               none
expect ocsp-revoked         revoked none                        revoked                            none
expect ocsp-unknown         unknown none                        unknown                            none
expect no-sources           none    none                        none                               none
expect stapled-good         good    good                        good                               good
expect stapled-revoked      revoked revoked                     revoked                            revoked
expect stapled-stale        stale   good                        good                               'error: stale'
expect ocsp-silent          unknown none                        'error: .*transfer timeout'        none
expect ocsp-garbage         unknown none                        'error: .*missing asn1 encoding'   none
expect ocsp-wrong-serial    unknown none                        'error: no status for this certificate' none
expect ocsp-unrelated-key   unknown none                        'error: response verify failure'   none
expect crl-huge             unknown 'error: huge.crl: larger than 20 MiB.*' none                  none
expect crl-wrong-key        unknown 'error: CRL signature failure' none                            none
expect crl-expired          unknown 'error: CRL has expired'    none                               none
expect crl-silent           unknown 'error: silent.crl: timed out' none                            none
expect crl-garbage          unknown 'error: Could not read any other CRLs.*' none                  none
expect crl-fallback-ocsp    good    'error: missing.crl: HTTP 404' good                            none
expect revoked-intermediate revoked revoked                     none                               none
check "no site left untested" '^22$' sh -c "ls '$WORK/oracle/' | grep -c '\.json$'"

echo "== the PKI itself"
check "root.crl revokes Revoked Lab Intermediate (keyCompromise)" 'Key Compromise' \
    openssl crl -inform DER -in "$D/www/root.crl" -noout -text
check "revoked-intermediate's leaf is issued by Revoked Lab Intermediate" 'issuer=CN = Revoked Lab Intermediate' \
    openssl x509 -in "$D/sites/revoked-intermediate/leaf.pem" -noout -issuer
check "crl-revoked: reason superseded in int.crl" 'Superseded' openssl crl -inform DER -in "$D/www/int.crl" -noout -text
check "ocsp-unknown's serial is not in int/index.txt" '^rc=1$' \
    grep -qi "$(openssl x509 -in "$D/sites/ocsp-unknown/leaf.pem" -noout -serial | cut -d= -f2)" "$D/int/index.txt"
check "wrong-key.crl: the intermediate's issuer name and authority key id" \
    "Issuer:CN=RevocationLabIntermediate.*AuthorityKeyIdentifier:$(openssl x509 -in "$D/int.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')" \
    sh -c "openssl crl -inform DER -in '$D/www/wrong-key.crl' -noout -text | tr -d '\n '"
check "expired.crl: nextUpdate in the past" '^past$' sh -c \
    "n=\$(openssl crl -inform DER -in '$D/www/expired.crl' -noout -nextupdate | cut -d= -f2); [ \$(date -d \"\$n\" +%s) -lt \$(date +%s) ] && echo past"
check "the OCSP responder is delegated (EKU OCSPSigning, issued by the intermediate)" 'OCSP Signing' \
    openssl x509 -in "$D/responder.pem" -noout -ext extendedKeyUsage
check "good's leaf: SAN, CDP and AIA" "DNS:good.rev.test.*URI:http://127.0.0.1:$H/int.crl.*OCSP - URI:http://127.0.0.1:$O" \
    sh -c "openssl x509 -in '$D/sites/good/leaf.pem' -noout -ext subjectAltName,crlDistributionPoints,authorityInfoAccess | tr -d '\n'"

echo "== nginx, OCSP responder, hostile server"
C=(curl -s --noproxy '*' --max-time 5)
CS="curl -s --noproxy '*' --max-time 5"
check "GET /int.crl: 200" '^200rc=0$' "${C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/int.crl"
check "GET /int.crl is a DER CRL" 'Issuer: CN = Revocation Lab Intermediate' \
    sh -c "$CS http://127.0.0.1:$H/int.crl | openssl crl -inform DER -noout -text"
check "GET /missing.crl: 404" '^404rc=0$' "${C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/missing.crl"
check "HEAD /huge.crl: 100 MiB" 'Content-Length: 104857600' "${C[@]}" -I "http://127.0.0.1:$H/huge.crl"
check "CRLs are application/pkix-crl" 'Content-Type: application/pkix-crl' "${C[@]}" -I "http://127.0.0.1:$H/root.crl"
check "access.log: request line and status" '"GET /int.crl HTTP/1.1" 200 ' cat "$D/access.log"
openssl ocsp -issuer "$D/int.pem" -cert "$D/sites/good/leaf.pem" -no_nonce -reqout "$WORK/req.der" >/dev/null 2>&1
B64=$("$PY" -c 'import base64,sys,urllib.parse; print(urllib.parse.quote(base64.b64encode(open(sys.argv[1],"rb").read()).decode(), safe=""))' "$WORK/req.der")
"${C[@]}" -o "$WORK/resp.der" "http://127.0.0.1:$O/$B64"
check "OCSP over GET: good, delegated signer verified" 'leaf.pem: good.*Response verify OK|Response verify OK.*leaf.pem: good' \
    sh -c "openssl ocsp -respin '$WORK/resp.der' -issuer '$D/int.pem' -cert '$D/sites/good/leaf.pem' -CAfile '$D/root.pem' -no_nonce 2>&1 | tr '\n' ' '"
check "OCSP POST of junk: malformedRequest" 'malformedrequest' \
    sh -c "head -c 64 /dev/urandom | $CS --data-binary @- -H 'Content-Type: application/ocsp-request' \
        -o '$WORK/bad.der' http://127.0.0.1:$O/; openssl ocsp -respin '$WORK/bad.der' -resp_text -noverify"
check "ocsp.log: request line, status, size" '"GET /[^ ]+ HTTP/1.1" 200 [0-9]+ bytes' cat "$D/ocsp.log"
for p in '/silent HTTP' '/silent.crl HTTP' '/garbage HTTP' '/wrong-serial HTTP' '/unrelated HTTP'; do
    check "hostile.log has $p" "$p" cat "$D/hostile.log"
done
check "hostile /nothing: 404" '^404rc=0$' "${C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$X/nothing"
check "TLS without SNI: rejected (unrecognized_name)" 'unrecognized name' \
    sh -c "openssl s_client -connect 127.0.0.1:$T -noservername </dev/null"
check "TLS good.rev.test: chain verifies to the lab root, name matches" 'Verify return code: 0 \(ok\)' \
    sh -c "openssl s_client -connect 127.0.0.1:$T -servername good.rev.test -CAfile '$D/root.pem' -verify_hostname good.rev.test -verify_return_error </dev/null"
check "HTTPS GET on a site: 200" '^revocation lab: crl-good.rev.test$' \
    curl -s --noproxy '*' --max-time 5 --cacert "$D/root.pem" --resolve "crl-good.rev.test:$T:127.0.0.1" "https://crl-good.rev.test:$T/"
check "stapled-stale over TLS 1.2 too: the stale staple is sent" 'Next Update: ' \
    sh -c "openssl s_client -tls1_2 -connect 127.0.0.1:$T -servername stapled-stale.rev.test -status </dev/null"
check "nginx logged no error or warning" '^0$' sh -c "grep -cE '\[(warn|error|crit|alert|emerg)\]' '$D/error.log'"

echo "== stop: SIGTERM (with --exit-on-stdin-eof's watcher blocked in a read)"
kill -TERM "$LABPID"
if wait_gone "$LABPID" 5; then wait "$LABPID"; rc=$?; else rc=timeout; fi
check "lab exits 0 within 5 s of SIGTERM" '^0$' echo "$rc"
check "...and said nothing on stderr" '^rc=0$' test ! -s "$D.err"
check "nginx ($NGINX_PID) is gone" '^rc=0$' wait_gone "$NGINX_PID" 3
check "no process of the lab left (pgrep -f $D)" '^rc=1$' pgrep -f -- "$D"
check "all four ports closed" '^rc=0$' all_refuse "$T" "$H" "$O" "$X"
LABPID=

echo "== stop: stdin EOF (--exit-on-stdin-eof)"
D2=$WORK/lab-eof
LAB_STDIN=$WORK/stdin start_lab "$D2" --exit-on-stdin-eof 7>&-
await_ready "$D2"
NGINX_PID=$(cat "$D2/nginx.pid")
exec 7>&-
if wait_gone "$LABPID" 5; then wait "$LABPID"; rc=$?; else rc=timeout; fi
check "lab exits 0 within 5 s of stdin EOF" '^0$' echo "$rc"
check "nginx ($NGINX_PID) is gone" '^rc=0$' wait_gone "$NGINX_PID" 3
check "no process of the lab left" '^rc=1$' pgrep -f -- "$D2"
LABPID=

echo "== stop: SIGKILL (nginx has PR_SET_PDEATHSIG)"
D3=$WORK/lab-kill
start_lab "$D3"
await_ready "$D3"
NGINX_PID=$(cat "$D3/nginx.pid")
kill -KILL "$LABPID"
wait "$LABPID" 2>/dev/null
LABPID=
check "nginx ($NGINX_PID) dies with the lab" '^rc=0$' wait_gone "$NGINX_PID" 3
check "TLS port closed" '^rc=0$' refuses "$T"
check "no process of the lab left" '^rc=1$' pgrep -f -- "$D3"

echo "$((CHECKS - FAILS))/$CHECKS checks passed in ${SECONDS} s"
[ "$FAILS" -eq 0 ]
