#!/bin/bash
# Proves samba_ad_lab.py with Debian's ldap-utils as the independent client.
# usage: samba_ad_lab_selftest.sh [-v] [CACHE_DIR]
#   CACHE_DIR: the DC's cache (default: a fresh temp dir, so the provisioning is proven and timed;
#   pass the same dir twice to see the reuse). -v prints every command's output.
# Exit 0 when every check passed. Samba listens on 127.0.0.11 (389, 636) only.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
VERBOSE=
if [ "${1:-}" = "-v" ]; then VERBOSE=1; shift; fi
WORK=$(mktemp -d /tmp/ewsprobe-sambalab-selftest.XXXXXX)
CACHE=${1:-$WORK/dc-cache}
IP=127.0.0.11
PIDS=()
FAILS=0
CHECKS=0
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

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
refute() {
    CHECKS=$((CHECKS + 1))
    if grep -Eq -- "$2" "$3"; then
        echo "FAIL $1"; grep -E -- "$2" "$3" | sed 's/^/     | /'; FAILS=$((FAILS + 1))
    else
        echo "ok   $1"
    fi
}
start() {
    local name=$1
    shift
    local t0=$SECONDS
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    for _ in $(seq 1 1200); do
        if grep -qs '^READY' "$WORK/$name.out"; then
            echo "     started in $((SECONDS - t0)) s: $(grep -o '"timings": {[^}]*}' "$WORK/$name.out")"
            return 0
        fi
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL $name did not start"; cat "$WORK/$name.out" "$WORK/$name.err"; exit 1
}
stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'; }

PKI=$WORK/pki
mkdir -p "$PKI"
(
    cd "$PKI" || exit 1
    ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj "/CN=ewsprobe samba lab root" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=another root" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req $ec -keyout dc.key -out dc.csr -subj "/CN=dc1.example.com" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:dc1.example.com,IP:%s\nextendedKeyUsage=serverAuth\n' "$IP" >dc.ext
    openssl x509 -req -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out dc.pem -days 30 -extfile dc.ext 2>/dev/null
) || exit 1

export LDAPTLS_CACERT=$PKI/ca.pem
unset LDAPTLS_REQCERT
S=ldaps://$IP
PW='Lab-Pass-1!'
SVC='Svc-Sync-Pass-1!'
BASE=DC=example,DC=com
bind() { ldapsearch -LLL -o nettimeout=5 -x -H "$S" -D "$1@example.com" -w "$2" -b '' -s base dnsHostName; }
attrs() { ldapsearch -LLL -o ldif-wrap=no -x -H "$S" -D svc-sync@example.com -w "$SVC" -b "$BASE" "(sAMAccountName=$1)" \
    userAccountControl msDS-User-Account-Control-Computed msDS-UserPasswordExpiryTimeComputed pwdLastSet accountExpires lockoutTime; }
# days from now until an AD FILETIME attribute of account $1
days_left() { attrs "$1" | python3 -c '
import sys, time
v = int([l for l in sys.stdin if l.startswith("msDS-UserPasswordExpiryTimeComputed:")][0].split()[1])
print("days=%.2f" % ((v / 1e7 - 11644473600 - time.time()) / 86400))'; }

echo "== Samba AD DC with a test-made certificate for dc1.example.com and $IP (cache $CACHE)"
start dc "$HERE/samba_ad_lab.py" --dir "$CACHE" --ip "$IP" --cert "$PKI/dc.pem" --key "$PKI/dc.key" --ca "$PKI/ca.pem"
LOG=$CACHE/samba.log
check "RootDSE (anonymous, LDAPS verified): dnsHostName" '^dnsHostName: dc1\.example\.com$' \
    ldapsearch -LLL -x -H "$S" -b '' -s base dnsHostName
check "RootDSE: defaultNamingContext" "^defaultNamingContext: $BASE\$" ldapsearch -LLL -x -H "$S" -b '' -s base defaultNamingContext
check "RootDSE: currentTime (GeneralizedTime, .0Z)" '^currentTime: 2[0-9]{13}\.0Z$' ldapsearch -LLL -x -H "$S" -b '' -s base currentTime
check "RootDSE: vendorName / vendorVersion" 'vendorName: Samba Team' ldapsearch -LLL -x -H "$S" -b '' -s base vendorName vendorVersion
check "RootDSE: no supportedExtension at all (StartTLS works but is not advertised)" '^rc=0$' \
    bash -c "! ldapsearch -LLL -x -H '$S' -b '' -s base supportedExtension '+' | grep -qi supportedExtension"
check "StartTLS (-ZZ) on 389, then a simple bind" '^dnsHostName: dc1\.example\.com$' \
    ldapsearch -ZZ -LLL -x -H "ldap://$IP" -D svc-sync@example.com -w "$SVC" -b '' -s base dnsHostName
check "simple bind on plain 389: strongerAuthRequired (8)" 'ldap_bind: Strong\(er\) authentication required \(8\)' \
    ldapsearch -LLL -x -H "ldap://$IP" -D svc-sync@example.com -w "$SVC" -b '' -s base dnsHostName
check "...with Samba's text" 'additional info: BindSimple: Transport encryption required\.' \
    ldapsearch -LLL -x -H "ldap://$IP" -D svc-sync@example.com -w "$SVC" -b '' -s base dnsHostName
check "ldapwhoami: Samba has no WhoAmI extended operation (2)" 'Extended Operation\(1\.3\.6\.1\.4\.1\.4203\.1\.11\.3\) not supported' \
    ldapwhoami -x -H "$S" -D svc-sync@example.com -w "$SVC"
check "anonymous search below the base: operationsError (1) 00002020" 'Operations error \(1\)' \
    ldapsearch -LLL -x -H "$S" -b "$BASE" '(mail=user@example.com)' dn
for a in svc-sync svc-aging pwwarn pwexpiring mailuser; do
    p=$PW; [ $a = svc-sync ] && p=$SVC
    check "$a: bind (UPN) succeeds" '^dnsHostName: dc1\.example\.com$' bind $a "$p"
done
check "service account: bind as DN" '^dnsHostName' \
    ldapsearch -LLL -x -H "$S" -D "CN=svc-sync,CN=Users,$BASE" -w "$SVC" -b '' -s base dnsHostName
check "service account: bind as DOMAIN\\user" '^dnsHostName' \
    ldapsearch -LLL -x -H "$S" -D 'EXAMPLE\svc-sync' -w "$SVC" -b '' -s base dnsHostName
ad() { echo "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data $1, v1db1"; }
check "wrong password: 49 data 52e" "ldap_bind: Invalid credentials \(49\)|$(ad 52e)" bind svc-sync wrong
check "wrong password: the AD text, data 52e" "additional info: $(ad 52e)" bind svc-sync wrong
check "unknown user: data 52e" "additional info: $(ad 52e)" bind nosuchuser "$PW"
check "disabled: data 533" "additional info: $(ad 533)" bind disabled "$PW"
check "disabled, wrong password: data 52e (the cause only with the right password)" "additional info: $(ad 52e)" bind disabled wrong
check "locked: data 775" "additional info: $(ad 775)" bind locked "$PW"
check "locked, wrong password: data 775 too" "additional info: $(ad 775)" bind locked wrong
check "mustchange: data 773" "additional info: $(ad 773)" bind mustchange "$PW"
check "acctexpired: data 701" "additional info: $(ad 701)" bind acctexpired "$PW"
check "pwexpired: data 532" "additional info: $(ad 532)" bind pwexpired "$PW"
check "pwexpired, wrong password: data 52e" "additional info: $(ad 52e)" bind pwexpired wrong
check "every failure is result 49" '^rc=49$' bind acctexpired "$PW"
for i in 1 2 3 4; do bind svc-sync "wrong-$i" >/dev/null 2>&1; done
check "4 wrong passwords do not lock the service account (domain threshold 0)" '^dnsHostName' bind svc-sync "$SVC"
check "lockme binds" '^dnsHostName' bind lockme "$PW"
for i in 1 2 3; do bind lockme "wrong-$i" >/dev/null 2>&1; done
check "lockme after 3 wrong binds (PSO lockout-lab): data 775" "additional info: $(ad 775)" bind lockme "$PW"
check "lockme: UF_LOCKOUT computed" '^msDS-User-Account-Control-Computed: 16$' attrs lockme
check "svc-sync: userAccountControl 66048 (NORMAL_ACCOUNT|DONT_EXPIRE_PASSWORD)" '^userAccountControl: 66048$' attrs svc-sync
check "svc-sync: msDS-UserPasswordExpiryTimeComputed never (2^63-1)" '^msDS-UserPasswordExpiryTimeComputed: 9223372036854775807$' attrs svc-sync
check "svc-sync: msDS-User-Account-Control-Computed 0" '^msDS-User-Account-Control-Computed: 0$' attrs svc-sync
check "svc-sync: pwdLastSet is a FILETIME" '^pwdLastSet: 1[0-9]{17}$' attrs svc-sync
check "svc-aging: expires in 42 days" '^days=4(1\.9[0-9]|2\.00)$' days_left svc-aging
check "pwwarn: expires in 14 days" '^days=1(3\.9[0-9]|4\.00)$' days_left pwwarn
check "pwexpiring: expires in 5 days" '^days=(4\.9[0-9]|5\.00)$' days_left pwexpiring
check "pwexpired: expired 18 days ago" '^days=-1(8\.0[0-9]|7\.9[0-9])$' days_left pwexpired
check "pwexpired: UF_PASSWORD_EXPIRED (8388608) computed" '^msDS-User-Account-Control-Computed: 8388608$' attrs pwexpired
check "mustchange: pwdLastSet 0, expiry 0, UF_PASSWORD_EXPIRED" '^msDS-UserPasswordExpiryTimeComputed: 0$' attrs mustchange
check "locked: UF_LOCKOUT (16) computed, lockoutTime set" '^msDS-User-Account-Control-Computed: 16$' attrs locked
check "disabled: userAccountControl 514 (ACCOUNTDISABLE)" '^userAccountControl: 514$' attrs disabled
check "acctexpired: accountExpires in the past (FILETIME)" '^accountExpires: 1[0-9]{17}$' attrs acctexpired
F='(|(mail=ADDR)(proxyAddresses=smtp:ADDR)(userPrincipalName=ADDR))'
for addr in user@example.com alias@example.com mailuser@example.com; do
    check "mailbox search finds $addr (the default filter)" "^dn: CN=mailuser,CN=Users,$BASE" \
        ldapsearch -LLL -x -H "$S" -D svc-sync@example.com -w "$SVC" -b "$BASE" "${F//ADDR/$addr}" dn
done
check "proxyAddresses match is case-insensitive (smtp: finds SMTP:)" "^proxyAddresses: SMTP:user@example.com" \
    ldapsearch -LLL -x -H "$S" -D svc-sync@example.com -w "$SVC" -b "$BASE" '(proxyAddresses=smtp:user@example.com)' proxyAddresses
check "a subtree search of the domain also returns continuation references" '^# refldaps?://' \
    ldapsearch -LLL -x -H "$S" -D svc-sync@example.com -w "$SVC" -b "$BASE" '(mail=user@example.com)' dn
check "search below a base that does not exist: noSuchObject (32)" 'No such object \(32\)' \
    ldapsearch -LLL -x -H "$S" -D svc-sync@example.com -w "$SVC" -b DC=nowhere,DC=com '(mail=user@example.com)' dn
check "unknown address: no entry" '^rc=0$' \
    bash -c "! ldapsearch -LLL -x -H '$S' -D svc-sync@example.com -w '$SVC' -b '$BASE' '${F//ADDR/nobody@example.com}' dn | grep -q '^dn:'"
check "untrusted CA: the client refuses before binding" "Can't contact LDAP server \(-1\)" \
    env LDAPTLS_CACERT="$PKI/other-ca.pem" ldapsearch -LLL -x -H "$S" -D user2probe@example.com -w "$PW" -b '' -s base
check "untrusted CA over StartTLS: refused" 'ldap_start_tls: Connect error \(-11\)' \
    env LDAPTLS_CACERT="$PKI/other-ca.pem" ldapsearch -ZZ -LLL -x -H "ldap://$IP" -D user2probe@example.com -w "$PW" -b '' -s base
sleep 0.3
refute "Samba's log: no bind for user2probe arrived" 'user2probe' "$LOG"
check "Samba's log: the trusted binds are there" 'Auth: \[LDAP,simple bind/TLS\] user \[EXAMPLE\]\\\[svc-sync@example\.com\].*status \[NT_STATUS_OK\]' cat "$LOG"
check "Samba's log: the lockout status" 'status \[NT_STATUS_ACCOUNT_LOCKED_OUT\]' cat "$LOG"
stop_last

echo "== the same DC again, with Samba's own self-signed certificate (the cache is reused)"
start dc2 "$HERE/samba_ad_lab.py" --dir "$CACHE" --ip "$IP"
SCA=$CACHE/dc/private/tls/ca.pem
check "reused the cache" '"reused_cache": true' cat "$WORK/dc2.out"
check "lockme was unlocked by the start" '^dnsHostName' env LDAPTLS_REQCERT=never ldapsearch -LLL -o nettimeout=5 -x -H "$S" -D lockme@example.com -w "$PW" -b '' -s base dnsHostName
check "Samba's certificate: CN=DC1.example.com, no subjectAltName" 'subject=.*CN = DC1\.example\.com' \
    openssl x509 -in "$CACHE/dc/private/tls/cert.pem" -noout -subject
check "trusting Samba's CA, by address: name mismatch (no SAN, CN is the FQDN)" 'TLS: hostname \(127\.0\.0\.11\) does not match common name in certificate \(DC1\.example\.com\)' \
    env LDAPTLS_CACERT="$SCA" ldapsearch -d 1 -LLL -x -H "$S" -D user2probe@example.com -w "$PW" -b '' -s base
check "LDAPTLS_REQCERT=never: the server answers" '^dnsHostName: dc1\.example\.com$' \
    env LDAPTLS_REQCERT=never ldapsearch -LLL -x -H "$S" -D svc-sync@example.com -w "$SVC" -b '' -s base dnsHostName
sleep 0.3
refute "no bind for user2probe arrived" 'user2probe' "$CACHE/samba.log"
stop_last

echo "== the same DC with its clock 15 minutes behind (--clock-offset -900, libfaketime)"
start dc3 "$HERE/samba_ad_lab.py" --dir "$CACHE" --ip "$IP" --cert "$PKI/dc.pem" --key "$PKI/dc.key" --ca "$PKI/ca.pem" --clock-offset -900
skew_of() { "$@" | python3 -c '
import sys, time, calendar
v = [l.split(": ", 1)[1].strip() for l in sys.stdin if l.startswith("currentTime: ")][0]
print("skew=%d" % round(calendar.timegm(time.strptime(v[:14], "%Y%m%d%H%M%S")) - time.time()))'; }
check "RootDSE currentTime is 900 s behind" '^skew=-(89[89]|90[0-2])$' skew_of ldapsearch -LLL -x -H "$S" -b '' -s base currentTime
check "the service account still binds" '^dnsHostName: dc1\.example\.com$' bind svc-sync "$SVC"
stop_last

echo "$((CHECKS - FAILS))/$CHECKS checks passed"
[ "$FAILS" -eq 0 ]
