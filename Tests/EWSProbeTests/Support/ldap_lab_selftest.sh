#!/bin/bash
# Proves ldap_lab.py (every variant) and hostile_ldap.py (every mode) with Debian's ldap-utils as
# the independent client. usage: ldap_lab_selftest.sh [-v]   (-v prints every command's output)
# Exit 0 when every check passed. Loopback only; everything in a temp dir removed at the end.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
VERBOSE=${1:-}
WORK=$(mktemp -d /tmp/ewsprobe-ldaplab-selftest.XXXXXX)
PIDS=()
FAILS=0
CHECKS=0
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# check DESC REGEX CMD...: runs CMD (stdout+stderr), passes when the output matches REGEX (grep -E).
# The exit code is appended as a last line `rc=N`, so REGEX may test it.
check() {
    local desc=$1 regex=$2
    shift 2
    local out
    out=$("$@" 2>&1; echo "rc=$?")
    CHECKS=$((CHECKS + 1))
    if grep -Eq -- "$regex" <<<"$out"; then
        echo "ok   $desc"
    else
        echo "FAIL $desc"
        echo "     command: $*"
        echo "     wanted:  $regex"
        sed 's/^/     | /' <<<"$out"
        FAILS=$((FAILS + 1))
        return
    fi
    if [ -n "$VERBOSE" ]; then sed 's/^/     | /' <<<"$out"; fi
}
# refute DESC REGEX FILE: passes when FILE has no line matching REGEX.
refute() {
    CHECKS=$((CHECKS + 1))
    if grep -Eq -- "$2" "$3"; then
        echo "FAIL $1"; grep -E -- "$2" "$3" | sed 's/^/     | /'; FAILS=$((FAILS + 1))
    else
        echo "ok   $1"
    fi
}

free_ports() { python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# start NAME CMD...: runs CMD in the background, waits for its READY line
start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    for _ in $(seq 1 150); do
        grep -qs '^READY' "$WORK/$name.out" && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL $name did not start"; cat "$WORK/$name.out" "$WORK/$name.err"; exit 1
}
stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'; }

# --- test PKI: a root, a leaf for 127.0.0.1 / ldap.lab.test, one for another name, a self-signed one
PKI=$WORK/pki
mkdir -p "$PKI"
(
    cd "$PKI" || exit 1
    ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj "/CN=ewsprobe ldaplab root" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=another root" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    leaf() {
        openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
        printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3" >"$1.ext"
        openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 30 -extfile "$1.ext" 2>/dev/null
    }
    leaf good ldap.lab.test "DNS:ldap.lab.test,IP:127.0.0.1"
    leaf wrongname other.example.com "DNS:other.example.com"
    openssl req -x509 $ec -keyout self.key -out self.pem -days 30 -subj "/CN=ldap.lab.test" \
        -addext "subjectAltName=DNS:ldap.lab.test,IP:127.0.0.1" 2>/dev/null
) || exit 1

P="ou=people,dc=example,dc=com"
PW='Lab-Pass-1!'
SVC='Svc-Sync-Pass-1!'
export LDAPTLS_CACERT=$PKI/ca.pem
unset LDAPTLS_REQCERT  # the environment's LDAPTLS_CACERT overrides ldap.conf's TLS_CACERT

read -r LP LSP LP2 LSP2 LP3 LSP3 LP4 LP5 LP6 LP7 LSP7 <<<"$(free_ports 11)"
# skew_of ATTR CMD...: seconds between the GeneralizedTime in ATTR of CMD's output and our clock
skew_of() { local attr=$1; shift; "$@" | python3 -c '
import sys, time, calendar
v = [l.split(": ", 1)[1].strip() for l in sys.stdin if l.startswith(sys.argv[1] + ": ")][0]
print("skew=%d" % round(calendar.timegm(time.strptime(v[:14], "%Y%m%d%H%M%S")) - time.time()))' "$attr"; }

echo "== slapd: LDAPS + StartTLS, good certificate, ppolicy (ldap $LP, ldaps $LSP)"
start tls-ppolicy "$HERE/ldap_lab.py" --dir "$WORK/tls-ppolicy" --ldap-port "$LP" --ldaps-port "$LSP" \
    --cert "$PKI/good.pem" --key "$PKI/good.key" --ppolicy
LOG=$WORK/tls-ppolicy/slapd.log
S=ldaps://127.0.0.1:$LSP
check "RootDSE over LDAPS offers StartTLS" 'supportedExtension: 1\.3\.6\.1\.4\.1\.1466\.20037' \
    ldapsearch -LLL -x -H "$S" -b '' -s base supportedExtension namingContexts
check "RootDSE names the naming context" 'namingContexts: dc=example,dc=com' \
    ldapsearch -LLL -x -H "$S" -b '' -s base namingContexts
check "LDAPS bind as the service account" "^dn:uid=svc-sync,$P" ldapwhoami -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC"
check "StartTLS (-ZZ) bind as the service account" "^dn:uid=svc-sync,$P" \
    ldapwhoami -ZZ -x -H "ldap://127.0.0.1:$LP" -D "uid=svc-sync,$P" -w "$SVC"
check "wrong password: 49" 'ldap_bind: Invalid credentials \(49\)' ldapwhoami -x -H "$S" -D "uid=svc-sync,$P" -w wrong
check "service account: no ppolicy warning" "^dn:uid=svc-sync,$P" ldapwhoami -e ppolicy -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC"
check "svc-aging: binds, outside the 30-day warning" "^dn:uid=svc-aging" ldapwhoami -e ppolicy -x -H "$S" -D "uid=svc-aging,$P" -w "$PW"
check "pwwarn: expires in ~14 days (ppolicy timeBeforeExpiration)" 'Success \(0\) \(Password expires in 12[01][0-9]{4} seconds\)' \
    ldapwhoami -e ppolicy -x -H "$S" -D "uid=pwwarn,$P" -w "$PW"
check "pwexpiring: expires in ~5 days" 'Success \(0\) \(Password expires in 43[0-2][0-9]{3} seconds\)' \
    ldapwhoami -e ppolicy -x -H "$S" -D "uid=pwexpiring,$P" -w "$PW"
check "pwexpired: 49 + Password expired" 'Invalid credentials \(49\); Password expired' \
    ldapwhoami -e ppolicy -x -H "$S" -D "uid=pwexpired,$P" -w "$PW"
check "pwexpired without the control: plain 49" 'ldap_bind: Invalid credentials \(49\)$' \
    ldapwhoami -x -H "$S" -D "uid=pwexpired,$P" -w "$PW"
check "mustchange: Success + Password must be changed" 'Success \(0\); Password must be changed' \
    ldapwhoami -e ppolicy -x -H "$S" -D "uid=mustchange,$P" -w "$PW"
check "mustchange: a search after the bind is refused (50)" 'Insufficient access \(50\)' \
    ldapsearch -LLL -x -H "$S" -D "uid=mustchange,$P" -w "$PW" -b dc=example,dc=com '(mail=user@example.com)' dn
check "locked: 49 + Account locked" 'Invalid credentials \(49\); Account locked' \
    ldapwhoami -e ppolicy -x -H "$S" -D "uid=locked,$P" -w "$PW"
for i in 1 2 3; do ldapwhoami -x -H "$S" -D "uid=lockme,$P" -w "wrong-$i" >/dev/null 2>&1; done
check "lockme after 3 wrong binds: Account locked with the right password" 'Invalid credentials \(49\); Account locked' \
    ldapwhoami -e ppolicy -x -H "$S" -D "uid=lockme,$P" -w "$PW"
check "lockme: pwdAccountLockedTime set by the server" 'pwdAccountLockedTime: 2[0-9]{13}Z' \
    ldapsearch -LLL -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC" -b "uid=lockme,$P" -s base pwdAccountLockedTime
check "service account reads its own pwdChangedTime and policy" 'pwdPolicySubentry: cn=service,ou=policies' \
    ldapsearch -LLL -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC" -b "uid=svc-sync,$P" -s base pwdChangedTime pwdPolicySubentry
check "service account reads the default policy's pwdMaxAge" 'pwdMaxAge: 7776000' \
    ldapsearch -LLL -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC" -b "cn=default,ou=policies,dc=example,dc=com" -s base pwdMaxAge
check "mailbox search finds user@example.com" "^dn: uid=mailuser,$P" \
    ldapsearch -LLL -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC" -b dc=example,dc=com \
    '(|(mail=user@example.com)(proxyAddresses=smtp:user@example.com)(userPrincipalName=user@example.com))' dn
check "mailbox search for an unknown address: no entry, rc 0" '^rc=0$' \
    bash -c "out=\$(ldapsearch -LLL -x -H '$S' -D 'uid=svc-sync,$P' -w '$SVC' -b dc=example,dc=com '(mail=nobody@example.com)' dn); [ -z \"\$out\" ]"
check "search below a base that does not exist: 32" 'No such object \(32\)' \
    ldapsearch -LLL -x -H "$S" -D "uid=svc-sync,$P" -w "$SVC" -b dc=nowhere,dc=com '(mail=user@example.com)' dn
check "clock: cn=Current,cn=Time,cn=Monitor (OpenLDAP has no RootDSE currentTime)" 'monitorTimestamp: 2[0-9]{13}Z' \
    ldapsearch -LLL -x -H "$S" -b cn=Current,cn=Time,cn=Monitor -s base monitorTimestamp
check "untrusted CA over LDAPS: the client refuses" "Can't contact LDAP server \(-1\)" \
    env LDAPTLS_CACERT="$PKI/other-ca.pem" ldapwhoami -x -H "$S" -D "uid=user2,$P" -w "$PW"
check "untrusted CA over StartTLS: the client refuses" 'ldap_start_tls: Connect error \(-11\)' \
    env LDAPTLS_CACERT="$PKI/other-ca.pem" ldapwhoami -ZZ -x -H "ldap://127.0.0.1:$LP" -D "uid=user2,$P" -w "$PW"
sleep 0.2
refute "slapd's log: no BIND for uid=user2 arrived (untrusted certificate)" 'BIND dn="uid=user2' "$LOG"
check "slapd's log: BIND lines are there for the trusted binds" 'conn=[0-9]+ op=[0-9]+ BIND dn="uid=svc-sync,ou=people,dc=example,dc=com" method=128' cat "$LOG"
stop_last

echo "== slapd: certificate whose name is not the host (ldap $LP2, ldaps $LSP2)"
start wrongname "$HERE/ldap_lab.py" --dir "$WORK/wrongname" --ldap-port "$LP2" --ldaps-port "$LSP2" \
    --cert "$PKI/wrongname.pem" --key "$PKI/wrongname.key"
check "LDAPS: hostname mismatch refused" "Can't contact LDAP server \(-1\)" \
    ldapwhoami -x -H "ldaps://127.0.0.1:$LSP2" -D "uid=user2,$P" -w "$PW"
check "libldap's debug output says why" 'TLS: hostname \(127\.0\.0\.1\) does not match common name in certificate \(other\.example\.com\)' \
    ldapwhoami -d 1 -x -H "ldaps://127.0.0.1:$LSP2" -D "uid=user2,$P" -w "$PW"
check "StartTLS: hostname mismatch refused" 'ldap_start_tls: Connect error \(-11\)' \
    ldapwhoami -ZZ -x -H "ldap://127.0.0.1:$LP2" -D "uid=user2,$P" -w "$PW"
check "the server itself works (LDAPTLS_REQCERT=never, anonymous)" '^anonymous' \
    env LDAPTLS_REQCERT=never ldapwhoami -x -H "ldaps://127.0.0.1:$LSP2"
sleep 0.2
refute "no BIND for uid=user2 arrived" 'BIND dn="uid=user2' "$WORK/wrongname/slapd.log"
stop_last

echo "== slapd: self-signed certificate (ldap $LP3, ldaps $LSP3)"
start selfsigned "$HERE/ldap_lab.py" --dir "$WORK/selfsigned" --ldap-port "$LP3" --ldaps-port "$LSP3" \
    --cert "$PKI/self.pem" --key "$PKI/self.key"
check "self-signed, not trusted: refused" "Can't contact LDAP server \(-1\)" \
    ldapwhoami -x -H "ldaps://127.0.0.1:$LSP3" -D "uid=user2,$P" -w "$PW"
check "self-signed, debug: not trusted" 'TLS: peer cert untrusted or revoked' \
    ldapwhoami -d 1 -x -H "ldaps://127.0.0.1:$LSP3" -D "uid=user2,$P" -w "$PW"
check "self-signed, trusted as its own CA: bind works" "^dn:uid=mailuser,$P" \
    env LDAPTLS_CACERT="$PKI/self.pem" ldapwhoami -x -H "ldaps://127.0.0.1:$LSP3" -D "uid=mailuser,$P" -w "$PW"
sleep 0.2
refute "no BIND for uid=user2 arrived" 'BIND dn="uid=user2' "$WORK/selfsigned/slapd.log"
check "...but the trusted one did" 'BIND dn="uid=mailuser' cat "$WORK/selfsigned/slapd.log"
stop_last

echo "== slapd: no TLS at all, ppolicy off (ldap $LP4)"
start notls "$HERE/ldap_lab.py" --dir "$WORK/notls" --ldap-port "$LP4"
check "RootDSE lists no StartTLS" '^rc=0$' \
    bash -c "! ldapsearch -LLL -x -H ldap://127.0.0.1:$LP4 -b '' -s base supportedExtension | grep -q 1.3.6.1.4.1.1466.20037"
check "StartTLS refused: protocolError (2)" 'ldap_start_tls: Protocol error \(2\)' \
    ldapwhoami -ZZ -x -H "ldap://127.0.0.1:$LP4" -D "uid=user2,$P" -w "$PW"
check "...with the server's text" 'additional info: unsupported extended operation' \
    ldapwhoami -ZZ -x -H "ldap://127.0.0.1:$LP4" -D "uid=user2,$P" -w "$PW"
check "slapd's log records the refusal" 'EXT oid=1\.3\.6\.1\.4\.1\.1466\.20037' cat "$WORK/notls/slapd.log"
refute "and no BIND for uid=user2 (-ZZ stops before the bind)" 'BIND dn="uid=user2' "$WORK/notls/slapd.log"
check "without ppolicy pwexpired binds (no policy enforced)" "^dn:uid=pwexpired,$P" \
    ldapwhoami -x -H "ldap://127.0.0.1:$LP4" -D "uid=pwexpired,$P" -w "$PW"
stop_last

echo "== slapd: ppolicy, accountLocked hidden (slapd's default), explicit policy (ldap $LP5)"
start hidden "$HERE/ldap_lab.py" --dir "$WORK/hidden" --ldap-port "$LP5" --ppolicy --no-ppolicy-use-lockout --explicit-policy
check "locked without ppolicy_use_lockout: 49, no error in the control" 'ldap_bind: Invalid credentials \(49\)$' \
    ldapwhoami -e ppolicy -x -H "ldap://127.0.0.1:$LP5" -D "uid=locked,$P" -w "$PW"
check "explicit policy: pwdPolicySubentry on the account" 'pwdPolicySubentry: cn=default,ou=policies,dc=example,dc=com' \
    ldapsearch -LLL -x -H "ldap://127.0.0.1:$LP5" -D "uid=svc-sync,$P" -w "$SVC" -b "uid=pwexpiring,$P" -s base pwdPolicySubentry
stop_last

echo "== slapd: TLS, 'require strong' (--global), so anonymous operations get strongerAuthRequired (ldap $LP7, ldaps $LSP7)"
start strong "$HERE/ldap_lab.py" --dir "$WORK/strong" --ldap-port "$LP7" --ldaps-port "$LSP7" \
    --cert "$PKI/good.pem" --key "$PKI/good.key" --global "require strong"
check "anonymous RootDSE over LDAPS: strongerAuthRequired (8)" 'Strong\(er\) authentication required \(8\)' \
    ldapsearch -LLL -x -H "ldaps://127.0.0.1:$LSP7" -b '' -s base namingContexts
check "a simple bind inside TLS is strong enough" "^dn:uid=svc-sync,$P" \
    ldapwhoami -x -H "ldaps://127.0.0.1:$LSP7" -D "uid=svc-sync,$P" -w "$SVC"
check "...and the bound RootDSE read works" 'namingContexts: dc=example,dc=com' \
    ldapsearch -LLL -x -H "ldaps://127.0.0.1:$LSP7" -D "uid=svc-sync,$P" -w "$SVC" -b '' -s base namingContexts
stop_last
start ssf "$HERE/ldap_lab.py" --dir "$WORK/ssf" --ldap-port "$LP7" --ldaps-port "$LSP7" \
    --cert "$PKI/good.pem" --key "$PKI/good.key" --global "security simple_bind=1024"
check "'security simple_bind=1024': a TLS simple bind gets confidentialityRequired (13)" 'ldap_bind: Confidentiality required \(13\)' \
    ldapwhoami -x -H "ldaps://127.0.0.1:$LSP7" -D "uid=svc-sync,$P" -w "$SVC"
stop_last
start nosimple "$HERE/ldap_lab.py" --dir "$WORK/nosimple" --ldap-port "$LP7" --ldaps-port "$LSP7" \
    --cert "$PKI/good.pem" --key "$PKI/good.key" --global "disallow bind_simple"
check "'disallow bind_simple': unwillingToPerform (53)" 'ldap_bind: Server is unwilling to perform \(53\)' \
    ldapwhoami -x -H "ldaps://127.0.0.1:$LSP7" -D "uid=svc-sync,$P" -w "$SVC"
stop_last

echo "== slapd: clock 10 minutes ahead (--clock-offset 600, libfaketime) (ldap $LP6)"
start skewed "$HERE/ldap_lab.py" --dir "$WORK/skewed" --ldap-port "$LP6" --clock-offset 600
check "cn=Current,cn=Time,cn=Monitor is 600 s ahead" '^skew=(59[89]|60[0-2])$' \
    skew_of monitorTimestamp ldapsearch -LLL -x -H "ldap://127.0.0.1:$LP6" -b cn=Current,cn=Time,cn=Monitor -s base monitorTimestamp
check "binds still work" "^dn:uid=svc-sync,$P" ldapwhoami -x -H "ldap://127.0.0.1:$LP6" -D "uid=svc-sync,$P" -w "$SVC"
stop_last

echo "== hostile_ldap.py"
MODES="http banner garbage silent close drop-after-starttls starttls-refused oversized huge-length length-overflow malformed wrong-tag wrong-id indefinite"
read -r -a HP <<<"$(free_ports 14)"
i=0
declare -A PORT
for m in $MODES; do
    PORT[$m]=${HP[$i]}
    i=$((i + 1))
    start "hostile-$m" "$HERE/hostile_ldap.py" "${PORT[$m]}" "$m" --log "$WORK/hostile-$m.log"
done
# -ZZ: the first request is StartTLS; the bind (and the password) would follow only after TLS
zz() { timeout 3 ldapwhoami -o nettimeout=3 -ZZ -x -H "ldap://127.0.0.1:${PORT[$1]}" -D "uid=svc-sync,$P" -w "$SVC"; }
check "http: StartTLS gets no LDAP answer" "ldap_start_tls: Can't contact LDAP server \(-1\)" zz http
check "banner: libldap waits (no operation timeout in ldap-utils)" '^rc=124$' zz banner
check "garbage: Can't contact" "ldap_start_tls: Can't contact LDAP server \(-1\)" zz garbage
check "silent: libldap waits forever" '^rc=124$' zz silent
check "close: Can't contact" "ldap_start_tls: Can't contact LDAP server \(-1\)" zz close
check "drop-after-starttls: the TLS handshake fails" 'ldap_start_tls: Connect error \(-11\)' zz drop-after-starttls
check "drop-after-starttls: libldap's text (GnuTLS: EOF or RST)" 'The TLS connection was non-properly terminated|Error in the pull function' zz drop-after-starttls
check "starttls-refused: Protocol error (2)" 'ldap_start_tls: Protocol error \(2\)' zz starttls-refused
check "oversized: libldap waits for 2 GiB" '^rc=124$' zz oversized
check "huge-length: Can't contact" "ldap_start_tls: Can't contact LDAP server \(-1\)" zz huge-length
check "length-overflow: Can't contact" "ldap_start_tls: Can't contact LDAP server \(-1\)" zz length-overflow
check "malformed: Decoding error (-4)" 'ldap_start_tls: Decoding error \(-4\)' zz malformed
check "wrong-tag: Bad parameter (-9)" 'ldap_start_tls: Bad parameter to an ldap routine \(-9\)' zz wrong-tag
check "wrong-id: libldap waits for its own id" '^rc=124$' zz wrong-id
check "indefinite: Can't contact" "ldap_start_tls: Can't contact LDAP server \(-1\)" zz indefinite
for m in $MODES; do
    refute "hostile $m: no bind reached it" 'request bind' "$WORK/hostile-$m.log"
done
check "hostile drop-after-starttls logged the StartTLS request" 'request extended oid=1\.3\.6\.1\.4\.1\.1466\.20037' \
    cat "$WORK/hostile-drop-after-starttls.log"

echo "== hostile_ldap.py behind a real StartTLS / LDAPS"
read -r H1 H2 H3 <<<"$(free_ports 3)"
start hostile-st-malformed "$HERE/hostile_ldap.py" "$H1" malformed --starttls "$PKI/good.pem" "$PKI/good.key" --log "$WORK/h1.log"
start hostile-tls-wrongtag "$HERE/hostile_ldap.py" "$H2" wrong-tag --tls "$PKI/good.pem" "$PKI/good.key" --log "$WORK/h2.log"
start hostile-tls-http "$HERE/hostile_ldap.py" "$H3" http --tls "$PKI/good.pem" "$PKI/good.key"
check "StartTLS then a malformed bind response: Can't contact (-1)" "ldap_result: Can't contact LDAP server \(-1\)" \
    timeout 6 ldapwhoami -ZZ -x -H "ldap://127.0.0.1:$H1" -D "uid=svc-sync,$P" -w "$SVC"
check "...and the bind did arrive inside TLS" 'request bind dn=uid=svc-sync,ou=people,dc=example,dc=com password=yes' cat "$WORK/h1.log"
check "LDAPS then a wrong-tag bind response: Decoding error (-4)" 'ldap_bind parse result: Decoding error \(-4\)|Decoding error' \
    timeout 6 ldapwhoami -x -H "ldaps://127.0.0.1:$H2" -D "uid=svc-sync,$P" -w "$SVC"
check "HTTPS on the LDAPS port: Can't contact (-1)" "Can't contact LDAP server \(-1\)" \
    timeout 6 ldapwhoami -x -H "ldaps://127.0.0.1:$H3" -D "uid=svc-sync,$P" -w "$SVC"

echo "$((CHECKS - FAILS))/$CHECKS checks passed"
[ "$FAILS" -eq 0 ]
