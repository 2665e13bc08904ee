#!/bin/bash
# Proves autodiscover_lab.py with exchangelib as the independent judge: starts the lab in a temp dir
# (on its own subnet, 127.0.29 unless ADLAB_SUBNET says otherwise, so a lab of the Swift tests on
# 127.0.20 is not in the way), asks the oracle (exchangelib's autodiscovery) about every domain and
# compares with lab.json (passing domains: the expected EWS URL; every domain: what exchangelib is
# recorded to find), checks DNS (dnsmasq), the failing cases with curl, the logs (no Authorization
# towards an untrusted certificate, no secret anywhere), then stops the lab three ways (SIGTERM,
# stdin EOF, SIGKILL) and checks that nothing it started is left running.
# usage: autodiscover_lab_selftest.sh [-v]   (-v prints every oracle answer and check output)
# Exit 0 when every check passed. Needs root (ports 443/80), nginx, dnsmasq, curl, jq; installs
# exchangelib with pip if missing. Loopback only; the temp dir is removed at the end. ~30 s.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB="$HERE/autodiscover_lab.py"
PY=${PYTHON:-python3}
VERBOSE=${1:-}
SUBNET=${ADLAB_SUBNET:-127.0.29}
WORK=$(mktemp -d /tmp/ewsprobe-adlab-selftest.XXXXXX)
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
# check DESC REGEX CMD...: runs CMD (stdout+stderr, then a line `rc=N` with its exit code), passes when the
# output matches REGEX (grep -E).
check() {
    local desc=$1 regex=$2
    shift 2
    local out
    out=$("$@" 2>&1; rc=$?; echo; echo "rc=$rc")
    if grep -Eq -- "$regex" <<<"$out"; then
        pass "$desc"
        [ -n "$VERBOSE" ] && sed 's/^/     | /' <<<"$out"
    else
        fail "$desc" "$(printf 'command: %s\nwanted:  %s\n%s' "$*" "$regex" "$(head -c 3000 <<<"$out")")"
    fi
}

if ! "$PY" -c 'import exchangelib, dns.resolver' 2>/dev/null; then
    echo "== pip install exchangelib (the oracle)"
    "$PY" -m pip install -q --disable-pip-version-check exchangelib || { echo "FAIL pip install exchangelib"; exit 1; }
fi

free_ports() { "$PY" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r P R <<<"$(free_ports 2)"

gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait_gone() { local i; for i in $(seq 1 $(($2 * 20))); do gone "$1" && return 0; sleep 0.05; done; return 1; }
refuses() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start_lab() {
    local dir=$1
    shift
    "$PY" "$LAB" --dir "$dir" --dns-port "$P" --responder-port "$R" --subnet "$SUBNET" "$@" \
        <"${LAB_STDIN:-/dev/null}" >"$dir.out" 2>"$dir.err" &
    LABPID=$!
}
await_ready() {
    local dir=$1 i
    for i in $(seq 1 300); do
        grep -qx "ready $P" "$dir.out" 2>/dev/null && return 0
        gone "$LABPID" && break
        sleep 0.1
    done
    echo "FAIL the lab in $dir did not get ready"; cat "$dir.out" "$dir.err"; exit 1
}

echo "== lab up (dns 127.0.0.1:$P, responder 127.0.0.1:$R, names on $SUBNET.*)"
mkfifo "$WORK/stdin"
exec 7<>"$WORK/stdin"
D=$WORK/lab
LAB_STDIN=$WORK/stdin start_lab "$D" --exit-on-stdin-eof 7>&-
await_ready "$D"
pass "ready $P"
check "startup (PKI + dnsmasq + nginx + responder) under 5 s" '"startup_s": [0-4]\.' cat "$D/ready.json"
echo "     $(jq -c '{pki_s, startup_s}' "$D/ready.json")"
NGINX_PID=$(jq .nginx_pid "$D/ready.json")
DNSMASQ_PID=$(jq .dnsmasq_pid "$D/ready.json")
check "lab.json lists 24 domains" '^24$' jq '.domains | length' "$D/lab.json"
check "lab.json: 231 names with addresses, all on $SUBNET" '^231 231$' \
    jq -r --arg s "$SUBNET." '"\(.addresses | length) \([.addresses[] | select(startswith($s))] | length)"' "$D/lab.json"
check "lab.json: dns, root, user" "^127.0.0.1:$P $D/root.pem svc@adlab.test\$" jq -r '"\(.dns) \(.root) \(.user)"' "$D/lab.json"
A() { jq -r ".addresses[\"$1\"]" "$D/lab.json"; }
PW=$(jq -r .password "$D/lab.json")
U=svc@adlab.test

echo "== DNS (dnsmasq)"
dnsq() { "$PY" - "$P" "$@" <<'EOF'
import sys, dns.message, dns.query, dns.rcode, dns.flags
port, name, rtype = int(sys.argv[1]), sys.argv[2], sys.argv[3]
q = dns.message.make_query(name, rtype)
if len(sys.argv) > 4 and sys.argv[4] == "tcp":
    r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
else:
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
print(dns.rcode.to_text(r.rcode()), "TC" if r.flags & dns.flags.TC else "-", sum(len(a) for a in r.answer))
for a in r.answer:
    for rr in sorted(rr.to_text() for rr in a):
        print(rr)
EOF
}
check "A root.adlab.test" "^$(A root.adlab.test | sed 's/\./\\./g')\$" dnsq root.adlab.test A
check "A srv.adlab.test: no data (NOERROR, nothing)" '^NOERROR - 0$' dnsq srv.adlab.test A
check "A autodiscover.srv.adlab.test: NXDOMAIN" '^NXDOMAIN' dnsq autodiscover.srv.adlab.test A
check "AAAA root.adlab.test: no data" '^NOERROR - 0$' dnsq root.adlab.test AAAA
check "A nothing-here.adlab.test: NXDOMAIN" '^NXDOMAIN' dnsq nothing-here.adlab.test A
check "A example.com: REFUSED (nothing is forwarded)" '^REFUSED' dnsq example.com A
check "SRV srv: 0 0 443 mail.srv.adlab.test." '^0 0 443 mail\.srv\.adlab\.test\.$' dnsq _autodiscover._tcp.srv.adlab.test SRV
oneline() { "$@" | tr '\n' ' '; }
check "SRV srvorder: the three records" \
    '0 1 443 low\.srvorder\.adlab\.test\. 0 10 443 right\.srvorder\.adlab\.test\. 10 100 443 wrong\.srvorder\.adlab\.test\.' \
    oneline dnsq _autodiscover._tcp.srvorder.adlab.test SRV
check "SRV srvflood over UDP: truncated (TC)" '^NOERROR TC' dnsq _autodiscover._tcp.srvflood.adlab.test SRV
check "SRV srvflood over TCP: 200 records" '^NOERROR - 200$' dnsq _autodiscover._tcp.srvflood.adlab.test SRV tcp
check "A t137.srvflood.adlab.test: the shared dead address" "^$(A t137.srvflood.adlab.test | sed 's/\./\\./g')\$" \
    dnsq t137.srvflood.adlab.test A
check "dnsmasq.log has the queries" 'query\[SRV\] _autodiscover\._tcp\.srvflood\.adlab\.test' cat "$D/dnsmasq.log"

echo "== oracle: exchangelib's autodiscovery for every domain (6 at a time)"
mkdir -p "$WORK/oracle"
T0=$SECONDS
jq -r '.domains | keys[]' "$D/lab.json" | xargs -P 6 -I{} sh -c \
    "'$PY' '$LAB' oracle --dir '$D' --timeout 60 'user@{}' >'$WORK/oracle/{}.json' 2>'$WORK/oracle/{}.err'"
"$PY" "$LAB" oracle --dir "$D" --no-auth user@noauth.adlab.test >"$WORK/oracle/noauth-noauth.json" 2>&1
echo "     (all oracles: $((SECONDS - T0)) s)"
# every domain: exchangelib finds what lab.json records for it; passing domains: that is ews_url
# (srvorder: exchangelib picks the wrong record; noauth: with the credentials the oracle has)
for dom in $(jq -r '.domains | keys[]' "$D/lab.json"); do
    f="$WORK/oracle/$dom.json"
    want=$(jq -r ".domains[\"$dom\"].exchangelib_ews_url" "$D/lab.json")
    got=$(jq -r '.ews_url' "$f" 2>/dev/null || echo "(no answer)")
    [ -n "$VERBOSE" ] && echo "     $dom: $(cat "$f" "$WORK/oracle/$dom.err" | head -c 600)"
    if [ "$got" = "$want" ]; then pass "oracle $dom: $got$( [ "$got" = null ] && jq -r '" (" + (.error | .[0:70]) + ")"' "$f")"
    else fail "oracle $dom: wanted $want, got $got" "$(cat "$f" "$WORK/oracle/$dom.err" | head -c 1500)"; fi
done
for dom in $(jq -r '.domains | to_entries[] | select(.value.expect == "pass") | .key' "$D/lab.json"); do
    case $dom in srvorder.* | noauth.*) continue ;; esac  # exchangelib differs / no URL without credentials
    check "pass domain $dom: exchangelib's URL is lab.json's ews_url" '^same$' \
        jq -rn --slurpfile o "$WORK/oracle/$dom.json" --slurpfile l "$D/lab.json" --arg d "$dom" \
        'if $o[0].ews_url == $l[0].domains[$d].ews_url then "same" else "different" end'
done
O="$WORK/oracle"
check "oracle srvorder: exchangelib asked wrong.srvorder (highest priority number), never right" '^wrong=1 right=0$' \
    jq -r '"wrong=\([.tried[] | select(test("POST https://wrong\\.srvorder"))] | length) right=\([.tried[] | select(test("right\\.srvorder"))] | length)"' \
    "$O/srvorder.adlab.test.json"
check "oracle loop: circular redirect" '^AutoDiscoverCircularRedirect' jq -r .error "$O/loop.adlab.test.json"
check "oracle chain: gives up after 10 URL redirects (11 POSTs)" '^11 AutoDiscoverFailed' \
    jq -r '"\([.tried[] | select(startswith("POST https://chain"))] | length) \(.error)"' "$O/chain.adlab.test.json"
check "oracle unknown: non-existent mailbox (SOAP InvalidUser)" '^ErrorNonExistentMailbox' jq -r .error "$O/unknown.adlab.test.json"
check "oracle authfail: invalid credentials" '^UnauthorizedError' jq -r .error "$O/authfail.adlab.test.json"
check "oracle insecure: the http redirect is refused, nothing asked after it" '^AutoDiscoverFailed.* 1$' \
    jq -r '"\(.error) \(.tried | length)"' "$O/insecure.adlab.test.json"
check "oracle untrusted: TLS refused, all steps failed" '^AutoDiscoverFailed' jq -r .error "$O/untrusted.adlab.test.json"
check "oracle wrongname: TLS refused, all steps failed" '^AutoDiscoverFailed' jq -r .error "$O/wrongname.adlab.test.json"
check "oracle internal: no external URL" "service_endpoint' must be set" jq -r .error "$O/internal.adlab.test.json"
check "oracle noauth without credentials: basic needs credentials" "requires credentials" jq -r .error "$O/noauth-noauth.json"
check "oracle srvflood: one SRV target tried" '^1$' \
    jq '[.tried[] | select(test("://t[0-9]+\\.srvflood\\.adlab\\.test/"))] | length' "$O/srvflood.adlab.test.json"

echo "== curl: the answers themselves"
C=(curl -s --noproxy '*' --max-time 10 --cacert "$D/root.pem")
REQ() { printf '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>%s</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>' "$1"; }
# pox NAME [curl args...]: POX POST for user@<domain of NAME> to https://NAME/autodiscover/autodiscover.xml,
# with the lab's credentials; output on one line
pox() {
    local name=$1 dom=${1#autodiscover.}
    shift
    "${C[@]}" --resolve "$name:443:$(A "$name")" -u "$U:$PW" -H 'Content-Type: text/xml' --data "$(REQ "user@$dom")" \
        "$@" "https://$name/autodiscover/autodiscover.xml" | tr -d '\n'
}
# get URL NAME PORT [curl args...]: `STATUS REDIRECT_URL` of a GET
get() { local url=$1 name=$2 port=$3; shift 3; "${C[@]}" --resolve "$name:$port:$(A "$name")" -o /dev/null -w '%{http_code} %{redirect_url}' "$@" "$url"; }
types() { pox "$1" | grep -o '<Type>[A-Z]*</Type>' | sed 's/<[^>]*>//g' | tr '\n' ' '; }
headers() { "${C[@]}" --resolve "$1:443:$(A "$1")" -D - -o /dev/null --data x "https://$1/autodiscover/autodiscover.xml" | tr -d '\r' | tr '\n' ' '; }
cert_of() { openssl s_client -connect "$(A "$1"):443" -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -subject -issuer | tr '\n' ' '; }
all_refuse() { local a p; for a in "$@"; do for p in 443 80; do refuses "$a" "$p" || return 1; done; done; echo refused; }
malformed() { pox malformed.adlab.test -o "$WORK/malformed.xml" -w '%{http_code} %{content_type} '
              "$PY" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$WORK/malformed.xml" 2>&1 | tail -1; }
bomb() { pox bomb.adlab.test -o "$WORK/bomb.xml" -w '%{http_code} %{size_download} '; tr -d '\n' <"$WORK/bomb.xml"; }
huge() {
    local code size te cl
    read -r code size < <(pox huge.adlab.test -D "$WORK/huge.h" -o /dev/null -w '%{http_code} %{size_download}')
    te=$(grep -qi '^transfer-encoding: chunked' "$WORK/huge.h" && echo chunked)
    cl=$(grep -qi '^content-length' "$WORK/huge.h" && echo length || echo no-length)
    echo "$code $te $cl $size $([ "$size" -gt 52428800 ] && echo big)"
}
check "root: settings, EXPR and EXCH EwsUrl" \
    '<Type>EXCH</Type>.*<EwsUrl>https://mail-int\.root\.adlab\.test/EWS/Exchange\.asmx</EwsUrl>.*<Type>EXPR</Type>.*<EwsUrl>https://mail\.root\.adlab\.test/EWS/Exchange\.asmx</EwsUrl>' \
    pox root.adlab.test
check "root: no credentials -> 401 Basic realm=adlab" '^HTTP/1.1 401 .*WWW-Authenticate: Basic realm="adlab"' headers root.adlab.test
check "root: /Autodiscover/Autodiscover.xml (Microsoft's case) answers too" '<Action>settings</Action>' \
    "${C[@]}" --resolve "root.adlab.test:443:$(A root.adlab.test)" -u "$U:$PW" --data "$(REQ user@root.adlab.test)" \
    https://root.adlab.test/Autodiscover/Autodiscover.xml
check "root: GET -> POX error 600" '<ErrorCode>600</ErrorCode>' \
    "${C[@]}" --resolve "root.adlab.test:443:$(A root.adlab.test)" -u "$U:$PW" https://root.adlab.test/autodiscover/autodiscover.xml
check "root: another path -> 404" '^404 ' get https://root.adlab.test/EWS/Exchange.asmx root.adlab.test 443
check "adhost: candidate 1 refuses 443" '^rc=7$' get https://adhost.adlab.test/autodiscover/autodiscover.xml adhost.adlab.test 443
check "adhost: candidate 2 answers settings mail.adhost" '<EwsUrl>https://mail\.adhost\.adlab\.test/EWS/Exchange\.asmx</EwsUrl>' \
    pox autodiscover.adhost.adlab.test
check "httponly: candidate 2 refuses 443" '^rc=7$' \
    get https://autodiscover.httponly.adlab.test/autodiscover/autodiscover.xml autodiscover.httponly.adlab.test 443
check "httponly: candidate 3 GET -> 302 https://redirect.httponly.adlab.test/autodiscover/autodiscover.xml" \
    '^302 https://redirect\.httponly\.adlab\.test/autodiscover/autodiscover\.xml' \
    get http://autodiscover.httponly.adlab.test/autodiscover/autodiscover.xml autodiscover.httponly.adlab.test 80
check "httponly: the redirect target answers settings mail.httponly" '<EwsUrl>https://mail\.httponly\.adlab\.test/EWS/Exchange\.asmx</EwsUrl>' \
    "${C[@]}" --resolve "redirect.httponly.adlab.test:443:$(A redirect.httponly.adlab.test)" -u "$U:$PW" \
    --data "$(REQ user@httponly.adlab.test)" https://redirect.httponly.adlab.test/autodiscover/autodiscover.xml
check "srvorder: right answers right.srvorder" '<EwsUrl>https://right\.srvorder\.adlab\.test/EWS/Exchange\.asmx</EwsUrl>' \
    pox right.srvorder.adlab.test
check "mismatch: EXPR other.mismatch" '<EwsUrl>https://other\.mismatch\.adlab\.test/EWS/Exchange\.asmx</EwsUrl>' pox mismatch.adlab.test
check "internal: only EXCH" '^EXCH $' types internal.adlab.test
check "unknown: POX error 500, the e-mail address cannot be found" \
    '<ErrorCode>500</ErrorCode>.*<Message>The e-mail address cannot be found\.</Message>' pox unknown.adlab.test
check "redirectaddr: redirectAddr user@root.adlab.test" \
    '<Action>redirectAddr</Action>.*<RedirectAddr>user@root\.adlab\.test</RedirectAddr>' pox redirectaddr.adlab.test
check "redirecturl: redirectUrl autodiscover.adhost" \
    '<Action>redirectUrl</Action>.*<RedirectUrl>https://autodiscover\.adhost\.adlab\.test/autodiscover/autodiscover\.xml</RedirectUrl>' \
    pox redirecturl.adlab.test
check "loop: redirectAddr to itself" '<RedirectAddr>user@loop\.adlab\.test</RedirectAddr>' pox loop.adlab.test
check "chain: no hop -> ?hop=1" '<RedirectUrl>https://chain\.adlab\.test/autodiscover/autodiscover\.xml\?hop=1</RedirectUrl>' pox chain.adlab.test
check "chain: ?hop=7 -> ?hop=8" '<RedirectUrl>https://chain\.adlab\.test/autodiscover/autodiscover\.xml\?hop=8</RedirectUrl>' \
    "${C[@]}" --resolve "chain.adlab.test:443:$(A chain.adlab.test)" -u "$U:$PW" --data "$(REQ user@chain.adlab.test)" \
    "https://chain.adlab.test/autodiscover/autodiscover.xml?hop=7"
check "insecure: redirectUrl to plain http" \
    '<RedirectUrl>http://autodiscover\.insecure\.adlab\.test/autodiscover/autodiscover\.xml</RedirectUrl>' pox insecure.adlab.test
check "insecurehttp: candidate 3 GET -> 302 to plain http" '^302 http://mail\.insecurehttp\.adlab\.test/autodiscover/autodiscover\.xml' \
    get http://autodiscover.insecurehttp.adlab.test/autodiscover/autodiscover.xml autodiscover.insecurehttp.adlab.test 80
check "untrusted: curl refuses the certificate (60)" '^rc=60$' \
    get https://untrusted.adlab.test/autodiscover/autodiscover.xml untrusted.adlab.test 443
check "untrusted: ...self-signed for untrusted.adlab.test" 'subject=CN = untrusted\.adlab\.test issuer=CN = untrusted\.adlab\.test' \
    cert_of untrusted.adlab.test
check "wrongname: curl refuses the certificate (60)" '^rc=60$' \
    get https://autodiscover.wrongname.adlab.test/autodiscover/autodiscover.xml autodiscover.wrongname.adlab.test 443
check "wrongname: ...issued by the lab root for elsewhere.adlab.test" 'subject=CN = elsewhere\.adlab\.test issuer=CN = AdLab Root CA' \
    cert_of autodiscover.wrongname.adlab.test
check "none: 443 and 80 refused on both names" '^refused$' all_refuse "$(A none.adlab.test)" "$(A autodiscover.none.adlab.test)"
check "authfail: 401 with the lab's credentials" '^401 ' pox authfail.adlab.test -o /dev/null -w '%{http_code} '
check "malformed: 200 text/xml that does not parse" '^200 text/xml.*(not well-formed|no element found|mismatched tag)' malformed
check "bomb: 200, under 2 KB, nested entities" '^200 [0-9]{3,4} .*<!ENTITY lol9 "&lol8;&lol8;' bomb
check "huge: 200, chunked (no Content-Length), more than 50 MiB" '^200 chunked no-length [0-9]+ big$' huge
check "silent: accepts, then nothing (curl times out after 2 s)" '^rc=28$' \
    get https://silent.adlab.test/autodiscover/autodiscover.xml silent.adlab.test 443 --max-time 2
check "silent.log: the connection was accepted" "$(A silent.adlab.test | sed 's/\./\\./g'):443 accepted" cat "$D/silent.log"
check "srvflood: nothing listens on the shared address" '^rc=0$' refuses "$(A t001.srvflood.adlab.test)" 443
check "noauth: 401 Basic on a certificate that verifies" '^401 0$' \
    "${C[@]}" --resolve "noauth.adlab.test:443:$(A noauth.adlab.test)" -o /dev/null -w '%{http_code} %{ssl_verify_result}' \
    --data "$(REQ user@noauth.adlab.test)" https://noauth.adlab.test/autodiscover/autodiscover.xml

echo "== logs"
check "access.log: address:port, Host, SNI, request line, status, bytes, auth presence" \
    "^[0-9T:+-]+ $(A root.adlab.test | sed 's/\./\\./g'):443 host=\"root\.adlab\.test\" sni=\"root\.adlab\.test\" \"POST /autodiscover/autodiscover\.xml HTTP/1\.1\" 200 [0-9]+ auth=yes\$" \
    cat "$D/access.log"
check "access.log: no request with Authorization reached untrusted or wrongname" '^0$' \
    grep -cE "^[^ ]+ ($(A untrusted.adlab.test)|$(A autodiscover.wrongname.adlab.test)):443 .* auth=yes\$" "$D/access.log"
check "access.log: exchangelib's SOAP POSTs arrived with credentials" '"POST /autodiscover/autodiscover\.svc HTTP/1\.1" 200 [0-9]+ auth=yes' cat "$D/access.log"
no_secret() { grep -qF -e "$PW" -e "$(printf '%s' "$U:$PW" | base64 -w0)" "$D"/*.log || echo clean; }
check "no log in D holds the password or the Basic token" '^clean$' no_secret
check "responder.log: SOAP and POX answers" 'soap user@root\.adlab\.test -> 200 settings.*|pox user@root\.adlab\.test -> 200 settings' cat "$D/responder.log"
check "nginx: no emerg/alert/crit" '^0$' grep -cE '\[(emerg|alert|crit)\]' "$D/error.log"

echo "== stop: SIGTERM (with --exit-on-stdin-eof's watcher blocked in a read)"
kill -TERM "$LABPID"
if wait_gone "$LABPID" 5; then wait "$LABPID"; rc=$?; else rc=timeout; fi
check "lab exits 0 within 5 s of SIGTERM" '^0$' echo "$rc"
check "...and said nothing on stderr" '^rc=0$' test ! -s "$D.err"
both_gone() { wait_gone "$1" 3 && wait_gone "$2" 3; }
check "nginx ($NGINX_PID) and dnsmasq ($DNSMASQ_PID) are gone" '^rc=0$' both_gone "$NGINX_PID" "$DNSMASQ_PID"
check "no process of the lab left (pgrep -f $D)" '^rc=1$' pgrep -f -- "$D"
closed() { refuses "$(A root.adlab.test)" 443 && refuses "$(A autodiscover.httponly.adlab.test)" 80 && refuses 127.0.0.1 "$P" && refuses 127.0.0.1 "$R"; }
check "443, 80, DNS and responder ports closed" '^rc=0$' closed
LABPID=

echo "== stop: stdin EOF (--exit-on-stdin-eof)"
D2=$WORK/lab-eof
LAB_STDIN=$WORK/stdin start_lab "$D2" --exit-on-stdin-eof 7>&-
await_ready "$D2"
NGINX_PID=$(jq .nginx_pid "$D2/ready.json")
DNSMASQ_PID=$(jq .dnsmasq_pid "$D2/ready.json")
exec 7>&-
if wait_gone "$LABPID" 5; then wait "$LABPID"; rc=$?; else rc=timeout; fi
check "lab exits 0 within 5 s of stdin EOF" '^0$' echo "$rc"
check "nginx and dnsmasq are gone" '^rc=0$' both_gone "$NGINX_PID" "$DNSMASQ_PID"
check "no process of the lab left" '^rc=1$' pgrep -f -- "$D2"
LABPID=

echo "== stop: SIGKILL (nginx and dnsmasq have PR_SET_PDEATHSIG)"
D3=$WORK/lab-kill
start_lab "$D3"
await_ready "$D3"
NGINX_PID=$(jq .nginx_pid "$D3/ready.json")
DNSMASQ_PID=$(jq .dnsmasq_pid "$D3/ready.json")
kill -KILL "$LABPID"
wait "$LABPID" 2>/dev/null
LABPID=
check "nginx and dnsmasq die with the lab" '^rc=0$' both_gone "$NGINX_PID" "$DNSMASQ_PID"
check "443, 80, DNS and responder ports closed" '^rc=0$' closed
check "no process of the lab left" '^rc=1$' pgrep -f -- "$D3"

echo "$((CHECKS - FAILS))/$CHECKS checks passed in ${SECONDS} s"
[ "$FAILS" -eq 0 ]
