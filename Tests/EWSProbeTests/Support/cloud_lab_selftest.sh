#!/bin/bash
# Proves cloud_lab.py with independent clients: starts the lab in a temp dir, asks its oracle (msal for
# the Microsoft cases, google-auth for the Google ones) about every case, checks raw answers with curl
# (--cacert D/ca.pem, --resolve NAME:P:127.0.0.1), posts client assertions made here with cryptography
# + Authlib (PS256 + x5t#S256 as ewsprobe sends, RS256 + x5t as older msal sends), checks the logs, then
# stops the lab (SIGTERM, stdin EOF) and checks that nothing is left and the port is closed.
# usage: cloud_lab_selftest.sh [-v]   (-v prints every oracle answer and check output)
# Exit 0 when every check passed. Loopback only; everything in a temp dir removed at the end. ~15 s.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB="$HERE/cloud_lab.py"
PY=${PYTHON:-python3}
VERBOSE=${1:-}
WORK=$(mktemp -d /tmp/ewsprobe-cloudlab-selftest.XXXXXX)
LABPID=
FAILS=0
CHECKS=0
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY  # nothing leaves loopback
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in Support/
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

P=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait_gone() { local i; for i in $(seq 1 $(($2 * 20))); do gone "$1" && return 0; sleep 0.05; done; return 1; }
refuses() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_lab() {
    local dir=$1
    shift
    "$PY" "$LAB" --dir "$dir" --port "$P" "$@" <"${LAB_STDIN:-/dev/null}" >"$dir.out" 2>"$dir.err" &
    LABPID=$!
}
await_ready() {
    local dir=$1 i
    for i in $(seq 1 300); do
        grep -qx "ready $P" "$dir.out" 2>/dev/null && return 0
        gone "$LABPID" && break
        sleep 0.05
    done
    echo "FAIL the lab in $dir did not get ready"; cat "$dir.out" "$dir.err"; exit 1
}

echo "== lab up (P=$P)"
mkfifo "$WORK/stdin"
exec 7<>"$WORK/stdin"
D=$WORK/lab
T0=$(date +%s.%N)
LAB_STDIN=$WORK/stdin start_lab "$D" --exit-on-stdin-eof 7>&-
await_ready "$D"
pass "ready $P after $(echo "$(date +%s.%N) - $T0" | bc | cut -c1-4) s"
check "startup (keys, certificates, server) under 3 s" '"startup_s": [0-2]\.' cat "$D/ready.json"
echo "     $(cat "$D/ready.json")"
check "lab.json lists 28 cases" '^28$' jq '.cases | length' "$D/lab.json"
check "every credential file exists and is mode 0600" '^rc=0$' sh -c \
    "jq -r '.cases[] | .secret_file, .certificate_file, .key_file, .service_account_file | select(.)' '$D/lab.json' | sort -u |
     while read f; do [ \"\$(stat -c %a \"\$f\")\" = 600 ] || { echo \"\$f\"; exit 1; }; done"
check "secrets list: every secret file's line is in it" '^rc=0$' sh -c \
    "for f in '$D'/*.secret; do jq -e --arg s \"\$(cat \"\$f\")\" '.secrets | index(\$s)' '$D/lab.json' >/dev/null || exit 1; done"
check "server certificate: all five names + IP 127.0.0.1, issued by the lab CA" \
    'DNS:login.cloud.test, DNS:graph.cloud.test, DNS:outlook.cloud.test, DNS:oauth2.cloud.test, DNS:gmail.cloud.test, IP Address:127.0.0.1' \
    sh -c "openssl verify -CAfile '$D/ca.pem' '$D/server.pem' && openssl x509 -in '$D/server.pem' -noout -ext subjectAltName"
check "good-cert: self-signed RSA 2048, notAfter in lab.json" "Not After : .* $(jq -r '.cases["good-cert"].not_after[:4]' "$D/lab.json") GMT.*Public-Key: \(2048 bit\)" \
    sh -c "openssl x509 -in '$D/good-cert.crt' -noout -text | tr -d '\n'"
check "expired-cert's notAfter is in the past" '^past$' sh -c \
    "[ \$(date -d \"\$(openssl x509 -in '$D/expired-cert.crt' -noout -enddate | cut -d= -f2)\" +%s) -lt \$(date +%s) ] && echo past"

echo "== oracle (msal / google-auth) on every case, all at once"
mkdir -p "$WORK/oracle"
OPIDS=()
for c in $(jq -r '.cases | keys[]' "$D/lab.json"); do
    "$PY" "$LAB" oracle --dir "$D" "$c" >"$WORK/oracle/$c.json" 2>"$WORK/oracle/$c.err" &
    OPIDS+=($!)
done
wait "${OPIDS[@]}"
# expect CASE REGEX: the oracle's JSON line (compact) must match
expect() {
    local got
    got=$(jq -c . "$WORK/oracle/$1.json" 2>/dev/null || cat "$WORK/oracle/$1.json" "$WORK/oracle/$1.err")
    [ -n "$VERBOSE" ] && echo "     $1: $got"
    if grep -Eq -- "$2" <<<"$got" && [ ! -s "$WORK/oracle/$1.err" ]; then pass "$1: $got"; else fail "$1" "$got
$(cat "$WORK/oracle/$1.err")"; fi
}
OK365='"token":"ok","roles":\["Mail.ReadWrite"\],"expires_in":3599,"graph":"200","exchange_roles":\["full_access_as_app"\],"ews":"200 NoError"'
expect good-secret        "^\{$OK365\}$"
expect good-cert          "^\{$OK365\}$"
expect expiring-cert      "^\{$OK365\}$"
expect unknown-tenant     '"error":"exception","message":"ValueError: Unable to get authority configuration'
expect unknown-client     '^\{"token":"error","error":"unauthorized_client","error_codes":\[700016\]\}$'
expect wrong-secret       '^\{"token":"error","error":"invalid_client","error_codes":\[7000215\]\}$'
expect expired-secret     '^\{"token":"error","error":"invalid_client","error_codes":\[7000222\]\}$'
expect unregistered-cert  '^\{"token":"error","error":"invalid_client","error_codes":\[700027\]\}$'
expect expired-cert       '^\{"token":"error","error":"invalid_client","error_codes":\[700027\]\}$'
expect disabled-app       '^\{"token":"error","error":"unauthorized_client","error_codes":\[7000112\]\}$'
expect missing-role       '"token":"ok","roles":\["User.Read.All"\].*"graph":"403 ErrorAccessDenied".*"ews":"200 NoError"'
expect ews-no-full-access '"token":"ok","roles":\["Mail.ReadWrite"\].*"graph":"200","exchange_roles":\[\],"ews":"403"\}$'
expect mailbox-not-found  '"token":"ok".*"graph":"404 ErrorInvalidUser".*"ews":"500 ErrorNonExistentMailbox"'
expect mailbox-disabled   '"token":"ok".*"graph":"404 MailboxNotEnabledForRESTAPI".*"ews":"500 ErrorNonExistentMailbox"'
expect throttled          '"token":"ok".*"graph":"429 TooManyRequests".*"ews":"500 ErrorServerBusy"'
expect ews-disabled       '"token":"ok".*"graph":"200".*"ews":"403 policy: EWS is disabled for this user or tenant"'
expect ews-blocked        '"token":"ok".*"graph":"200".*"ews":"403 policy: EWS is blocked by policy for this user or tenant"'
expect hang-token         '^\{"token":"error","error":"exception","message":"ReadTimeout: .*read timeout=5'
expect html-token         '^\{"token":"error","error":"exception","message":"MsalServiceError: HTTP Error: 502"\}$'
expect reflect            '^\{"token":"error","error":"invalid_client","error_codes":\[7000215\]\}$'
expect reflect-cert       '"token":"ok".*"graph":"403 ErrorAccessDenied".*"ews":"500 ErrorInternalServerError"'
expect google-good        '^\{"token":"ok","expires_in":35[0-9][0-9],"gmail":"200"\}$'
expect google-unauthorized '^\{"token":"error","error":"unauthorized_client","message":"Client is unauthorized'
expect google-bad-key     '^\{"token":"error","error":"invalid_grant","message":"Invalid JWT Signature."\}$'
expect google-unknown-user '^\{"token":"error","error":"invalid_grant","message":"Invalid email or User ID"\}$'
expect google-mail-disabled '^\{"token":"ok","expires_in":35[0-9][0-9],"gmail":"400 failedPrecondition"\}$'
expect google-throttled   '^\{"token":"ok","expires_in":35[0-9][0-9],"gmail":"429 rateLimitExceeded"\}$'
expect google-hang        '^\{"token":"error","error":"exception","message":"TransportError: .*read timeout=5'
check "no case left untested" '^28$' sh -c "ls '$WORK/oracle/' | grep -c '\.json$'"
check "no oracle printed a secret" '^rc=1$' sh -c \
    "jq -r '.secrets[]' '$D/lab.json' | grep -F -f - -q '$WORK'/oracle/*.json"

echo "== raw answers (curl)"
A=$(jq -r .authority "$D/lab.json")
G=$(jq -r .graph "$D/lab.json")
X=$(jq -r .exchange "$D/lab.json")
C=(curl -sS --noproxy '*' --max-time 10 --cacert "$D/ca.pem")
for h in login graph outlook oauth2 gmail; do C+=(--resolve "$h.cloud.test:$P:127.0.0.1"); done
TID=$(jq -r '.tenants["contoso.test"]' "$D/lab.json")
secret() { cat "$(jq -r ".cases[\"$1\"].secret_file" "$D/lab.json")"; }
cid() { jq -r ".cases[\"$1\"].client_id" "$D/lab.json"; }
# token CASE RESOURCE: an access token for a secret case (client_secret_post)
token() { "${C[@]}" "$A/contoso.test/oauth2/v2.0/token" -d grant_type=client_credentials --data-urlencode "client_id=$(cid "$1")" \
    --data-urlencode "client_secret=$(secret "$1")" --data-urlencode "scope=$2/.default" | jq -r .access_token; }
check "discovery for nowhere.test: 400 invalid_tenant AADSTS90002, Entra's shape" \
    '^\{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant .nowhere.test. not found\..*\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: [0-9 :-]+Z","error_codes":\[90002\],"timestamp":"[0-9 :-]+Z","trace_id":"[0-9a-f-]{36}","correlation_id":"[0-9a-f-]{36}","error_uri":"https://login.cloud.test:[0-9]+/error\?code=90002"\}400' \
    sh -c "$(printf '%q ' "${C[@]}") -w '%{http_code}' '$A/nowhere.test/v2.0/.well-known/openid-configuration' | jq -c . | tr -d '\n'; $(printf '%q ' "${C[@]}") -o /dev/null -w '%{http_code}' '$A/nowhere.test/v2.0/.well-known/openid-configuration'"
check "discovery for contoso.test: GUID endpoints" \
    "\"$A/$TID/oauth2/v2.0/token\",\"$A/$TID/v2.0\",\"$A/$TID/discovery/v2.0/keys\",\\[\"client_secret_post\",\"private_key_jwt\",\"client_secret_basic\"\\]" \
    sh -c "$(printf '%q ' "${C[@]}") '$A/contoso.test/v2.0/.well-known/openid-configuration' | jq -c '[.token_endpoint, .issuer, .jwks_uri, .token_endpoint_auth_methods_supported]'"
check "JWKS: one RSA key with kid" '^\[\["RSA","[A-Za-z0-9_-]{27}"\]\]$' \
    sh -c "$(printf '%q ' "${C[@]}") '$A/$TID/discovery/v2.0/keys' | jq -c '[.keys[] | [.kty, .kid]]'"
check "client_secret_basic works too" '^"Bearer"$' \
    sh -c "$(printf '%q ' "${C[@]}") -u '$(cid good-secret):$(secret good-secret)' '$A/$TID/oauth2/v2.0/token' -d grant_type=client_credentials --data-urlencode 'scope=$G/.default' | jq .token_type"
GT=$(token good-secret "$G")
check "the access token: v1 claims, aud graph, roles, appidacr 1" \
    "^\\{\"aud\":\"$G\",\"iss\":\"https://sts.windows.net/$TID/\",\"appid\":\"$(cid good-secret)\",\"appidacr\":\"1\",\"idtyp\":\"app\",\"tid\":\"$TID\",\"roles\":\\[\"Mail.ReadWrite\"\\],\"ver\":\"1.0\",\"life\":3599\\}$" \
    bash -c "cut -d. -f2 <<<'$GT' | tr '_-' '/+' | base64 -d 2>/dev/null | jq -c '{aud, iss, appid, appidacr, idtyp, tid, roles, ver, life: (.exp - .iat)}'"
check "Graph 429 for busy.mailbox: Retry-After 37, TooManyRequests" \
    'HTTP/1.1 429.*[Rr]etry-[Aa]fter: 37.*"code":"TooManyRequests","message":"Application is over its MailboxConcurrency limit.","innerError":\{"date"' \
    sh -c "$(printf '%q ' "${C[@]}") -i -H 'Authorization: Bearer $GT' '$G/v1.0/users/busy.mailbox%40contoso.test/mailFolders/inbox' | tr -d '\r\n'"
check "Graph 401 without a token: InvalidAuthenticationToken + WWW-Authenticate Bearer" \
    'HTTP/1.1 401.*WWW-Authenticate: Bearer .*"code":"InvalidAuthenticationToken"' \
    sh -c "$(printf '%q ' "${C[@]}") -i '$G/v1.0/users/probe.mailbox@contoso.test/mailFolders/inbox' | tr -d '\r\n'"
check "Graph with an Exchange token: 401 invalid audience" 'Invalid audience.*401rc=0$' \
    sh -c "$(printf '%q ' "${C[@]}") -w '%{http_code}' -H 'Authorization: Bearer $(token good-secret "$X")' '$G/v1.0/users/probe.mailbox@contoso.test/mailFolders/inbox'"
SOAP=$(printf '%s' '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>probe.mailbox@contoso.test</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>')
ews() { "${C[@]}" -i -H 'Content-Type: text/xml; charset=utf-8' -H "X-AnchorMailbox: probe.mailbox@contoso.test" "$@" --data-binary "$SOAP" "$X/EWS/Exchange.asmx" | tr -d '\r'; }
check "EWS 403 + X-EWS-Policy-Reason for ews-disabled" '^HTTP/1.1 403.*X-EWS-Policy-Reason: EWS is disabled for this user or tenant' \
    bash -c "$(declare -f ews); C=($(printf '%q ' "${C[@]}")); X='$X'; SOAP='$SOAP'; ews -H 'Authorization: Bearer $(token ews-disabled "$X")' | tr '\n' ' '"
check "EWS 403 without X-EWS-Policy-Reason for ews-no-full-access" '^HTTP/1.1 403 [^|]*Content-Length: 0 *$' \
    bash -c "$(declare -f ews); C=($(printf '%q ' "${C[@]}")); X='$X'; SOAP='$SOAP'; ews -H 'Authorization: Bearer $(token ews-no-full-access "$X")' | grep -v -i '^x-ews-policy' | tr '\n' ' '; \
           ews -H 'Authorization: Bearer $(token ews-no-full-access "$X")' | grep -ci '^x-ews-policy' | sed 's/^0$//'"
check "EWS 200 GetFolder for good-secret: NoError, Inbox, ServerVersionInfo 15.20" \
    'HTTP/1.1 200.*<h:ServerVersionInfo MajorVersion="15" MinorVersion="20".*ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>.*<t:DisplayName>Inbox</t:DisplayName>' \
    bash -c "$(declare -f ews); C=($(printf '%q ' "${C[@]}")); X='$X'; SOAP='$SOAP'; ews -H 'Authorization: Bearer $(token good-secret "$X")' | tr '\n' ' '"
check "EWS without X-AnchorMailbox: 500 ErrorInvalidExchangeImpersonationHeader" 'HTTP/1.1 500.*a:ErrorInvalidExchangeImpersonationHeader' \
    sh -c "$(printf '%q ' "${C[@]}") -i -H 'Authorization: Bearer $(token good-secret "$X")' -H 'Content-Type: text/xml' --data-binary '${SOAP}' '$X/EWS/Exchange.asmx' | tr -d '\r\n'"
check "EWS without a token: 401, WWW-Authenticate Bearer, x-ms-diagnostics 2000001" \
    'HTTP/1.1 401.*WWW-Authenticate: Bearer client_id="00000002-0000-0ff1-ce00-000000000000".*x-ms-diagnostics: 2000001;reason=' \
    bash -c "$(declare -f ews); C=($(printf '%q ' "${C[@]}")); X='$X'; SOAP='$SOAP'; ews | tr '\n' ' '"
check "EWS with a Graph token: 401 x-ms-diagnostics 2000003 (audience)" 'HTTP/1.1 401.*x-ms-diagnostics: 2000003;' \
    bash -c "$(declare -f ews); C=($(printf '%q ' "${C[@]}")); X='$X'; SOAP='$SOAP'; ews -H 'Authorization: Bearer $GT' | tr '\n' ' '"
check "hang-token: the token endpoint never answers (curl gives up after 2 s)" '^000rc=28$' \
    "${C[@]}" --max-time 2 -o /dev/null -w '%{http_code}' "$A/hang.test/oauth2/v2.0/token" -d grant_type=client_credentials
check "html-token: 502 text/html" '^502 text/html; charset=utf-8' \
    "${C[@]}" -o /dev/null -w '%{http_code} %{content_type}' "$A/html.test/oauth2/v2.0/token" -d grant_type=client_credentials
check "reflect: the posted secret comes back in error_description" "AADSTS7000215: Invalid client secret provided: '$(secret reflect)'" \
    "${C[@]}" "$A/contoso.test/oauth2/v2.0/token" -d grant_type=client_credentials --data-urlencode "client_id=$(cid reflect)" \
    --data-urlencode "client_secret=$(secret reflect)" --data-urlencode "scope=$G/.default"

echo "== client assertions made here (cryptography + Authlib)"
# assertion CASE ALG HEADER [AUD] [EXP_IN]: a signed client assertion for a certificate case
assertion() {
    "$PY" - "$D/lab.json" "$@" <<'EOF'
import hashlib, json, sys, time, uuid, warnings, base64
import authlib.deprecate
warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")
from authlib.jose import JsonWebToken
from cryptography import x509
from cryptography.hazmat.primitives import serialization
lab = json.load(open(sys.argv[1])); case, alg, hdr = sys.argv[2:5]
c = lab["cases"][case]
der = x509.load_pem_x509_certificate(open(c["certificate_file"], "rb").read()).public_bytes(serialization.Encoding.DER)
thumb = base64.urlsafe_b64encode(hashlib.sha256(der).digest() if hdr == "x5t#S256" else hashlib.sha1(der).digest()).rstrip(b"=").decode()
aud = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else f"{c['authority']}/{c['tenant_id']}/oauth2/v2.0/token"
now = int(time.time())
exp = now + (int(sys.argv[6]) if len(sys.argv) > 6 else 600)
claims = {"aud": aud, "iss": c["client_id"], "sub": c["client_id"], "jti": str(uuid.uuid4()), "nbf": now, "iat": now, "exp": exp}
print(JsonWebToken([alg]).encode({"alg": alg, "typ": "JWT", hdr: thumb}, claims, open(c["key_file"]).read()).decode())
EOF
}
post_assertion() {  # post_assertion CASE ASSERTION -> status + body
    "${C[@]}" -w '%{http_code}' "$A/$TID/oauth2/v2.0/token" -d grant_type=client_credentials --data-urlencode "client_id=$(cid "$1")" \
        --data-urlencode "scope=$G/.default" -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
        --data-urlencode "client_assertion=$2"
}
PS=$(assertion good-cert PS256 'x5t#S256')
check "good-cert, PS256 + x5t#S256: token issued (appidacr 2)" '"token_type":"Bearer".*200rc=0$' post_assertion good-cert "$PS"
check "the same assertion again (jti replay): 401 invalid_client 700027" '"error":"invalid_client".*"error_codes":\[700027\].*401rc=0$' \
    post_assertion good-cert "$PS"
check "good-cert, RS256 + x5t (SHA-1): token issued" '"token_type":"Bearer".*200rc=0$' \
    post_assertion good-cert "$(assertion good-cert RS256 x5t)"
check "unregistered-cert, PS256 + x5t#S256: 401 invalid_client AADSTS700027 not registered" \
    '"error":"invalid_client","error_description":"AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.*"error_codes":\[700027\].*401rc=0$' \
    post_assertion unregistered-cert "$(assertion unregistered-cert PS256 'x5t#S256')"
check "good-cert, audience = tenant-name form: accepted" '200rc=0$' \
    post_assertion good-cert "$(assertion good-cert PS256 'x5t#S256' "$A/contoso.test/oauth2/v2.0/token")"
check "good-cert, wrong audience: 401 invalid_client" '"error":"invalid_client".*401rc=0$' \
    post_assertion good-cert "$(assertion good-cert PS256 'x5t#S256' "$A/common/oauth2/v2.0/token")"
check "good-cert, already expired assertion: 401 AADSTS700024" '"error_codes":\[700024\].*401rc=0$' \
    post_assertion good-cert "$(assertion good-cert PS256 'x5t#S256' '' -900)"
check "good-cert, exp 2 h ahead: 401 AADSTS700024" '"error_codes":\[700024\].*401rc=0$' \
    post_assertion good-cert "$(assertion good-cert PS256 'x5t#S256' '' 7200)"
check "reflect-cert: X-Debug-Assertion header and JSON field debug carry the assertion" '^2 200rc=0$' bash -c \
    "a=\$($(declare -f assertion); PY='$PY' D='$D'; assertion reflect-cert PS256 'x5t#S256'); \
     $(printf '%q ' "${C[@]}") -i '$A/$TID/oauth2/v2.0/token' -d grant_type=client_credentials --data-urlencode 'client_id=$(cid reflect-cert)' \
     --data-urlencode 'scope=$G/.default' -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
     --data-urlencode \"client_assertion=\$a\" -w '\n%{http_code}' | tr -d '\r' | grep -cF -e \"X-Debug-Assertion: \$a\" -e \"\\\"client_assertion\\\":\\\"\$a\\\"\" | tr '\n' ' '; \
     $(printf '%q ' "${C[@]}") -o /dev/null -w '%{http_code}' '$A/$TID/discovery/v2.0/keys'"

echo "== Google (token via a JWT-bearer assertion made here)"
GTOK=$("$PY" - "$D/lab.json" <<'EOF'
import json, sys, time, warnings
import authlib.deprecate
warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")
from authlib.jose import JsonWebToken
lab = json.load(open(sys.argv[1])); c = lab["cases"]["google-mail-disabled"]
sa = json.load(open(c["service_account_file"]))
now = int(time.time())
print(JsonWebToken(["RS256"]).encode({"alg": "RS256", "typ": "JWT", "kid": sa["private_key_id"]},
      {"iss": sa["client_email"], "sub": c["mailbox"], "scope": "https://mail.google.com/", "aud": sa["token_uri"],
       "iat": now, "exp": now + 3600}, sa["private_key"]).decode())
EOF
)
GACC=$("${C[@]}" "https://oauth2.cloud.test:$P/token" -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer --data-urlencode "assertion=$GTOK")
check "Google token: ya29 opaque, expires_in 3599, Bearer" '^\["ya29\.",3599,"Bearer"\]$' jq -c '[.access_token[:5], .expires_in, .token_type]' <<<"$GACC"
check "Gmail 400 for disabled.mailbox: failedPrecondition, FAILED_PRECONDITION" \
    '^400 \{"error":\{"code":400,"message":"Mail service not enabled","errors":\[\{"message":"Mail service not enabled","domain":"global","reason":"failedPrecondition"\}\],"status":"FAILED_PRECONDITION"\}\}$' \
    sh -c "$(printf '%q ' "${C[@]}") -w '%{http_code} ' -o '$WORK/gm.json' -H 'Authorization: Bearer $(jq -r .access_token <<<"$GACC")' \
           'https://gmail.cloud.test:$P/gmail/v1/users/disabled.mailbox@example.test/profile'; jq -c . '$WORK/gm.json'"
check "Gmail with that token for another user: 403 Delegation denied" '"code":403,"message":"Delegation denied for disabled.mailbox@example.test".*"reason":"forbidden".*PERMISSION_DENIED' \
    sh -c "$(printf '%q ' "${C[@]}") -H 'Authorization: Bearer $(jq -r .access_token <<<"$GACC")' 'https://gmail.cloud.test:$P/gmail/v1/users/probe.mailbox@example.test/profile' | jq -c ."
check "Gmail without a token: 401 UNAUTHENTICATED + WWW-Authenticate" \
    'HTTP/1.1401.*WWW-Authenticate:Bearerrealm="https://accounts.google.com/",error="invalid_token".*"status":"UNAUTHENTICATED"' \
    sh -c "$(printf '%q ' "${C[@]}") -i 'https://gmail.cloud.test:$P/gmail/v1/users/me/profile' | tr -d '\r\n '"

echo "== logs"
check "requests.log: every line is JSON with host, method, path, headers, form, status" '^rc=0$' sh -c \
    "jq -e 'has(\"host\") and has(\"method\") and has(\"path\") and has(\"headers\") and has(\"form\") and has(\"status\")' '$D/requests.log' | grep -qv true; [ \$? = 1 ]"
check "requests.log: the PS256 assertion's header and claims, decoded" '"alg":"PS256","typ":"JWT","x5t#S256":"[A-Za-z0-9_-]{43}"' \
    jq -c 'select(.assertion) | .assertion.header' "$D/requests.log"
check "requests.log: msal's assertion (good-cert oracle): PS256, x5c, x5t#S256" '"alg":"PS256".*"x5c":\[.*"x5t#S256":"[A-Za-z0-9_=-]{44}"' \
    jq -c "select(.assertion and .assertion.claims.iss == \"$(cid good-cert)\" and .headers[\"User-Agent\"] != null and (.headers[\"User-Agent\"] | test(\"python-requests\"))) | .assertion.header" "$D/requests.log"
check "requests.log: raw Authorization header kept" '^"Authorization": "Bearer eyJ' grep -o -m1 '"Authorization": "Bearer eyJ' "$D/requests.log"
check "requests.log: the held requests (hang-token, google-hang) logged with status null" \
    '"/hang.test/oauth2/v2.0/token".*"/hang"|"/hang".*"/hang.test/oauth2/v2.0/token"' \
    sh -c "jq -c 'select(.status == null) | .path' '$D/requests.log' | sort -u | tr '\n' ' '"
check "the lab said nothing on stderr" '^rc=0$' test ! -s "$D.err"

echo "== stop"
check "a second lab on the same port: exit 1 with a message" '^rc=1$' sh -c \
    "'$PY' '$LAB' --dir '$WORK/second' --port $P </dev/null >/dev/null 2>'$WORK/second.err'; rc=\$?; grep -q 'in use' '$WORK/second.err' && echo rc=\$rc"
kill -TERM "$LABPID"
if wait_gone "$LABPID" 5; then wait "$LABPID"; rc=$?; else rc=timeout; fi
check "lab exits 0 within 5 s of SIGTERM (with held connections open)" '^0$' echo "$rc"
check "...the port is closed" '^rc=0$' refuses "$P"
check "no process of the lab left (pgrep -f $D)" '^rc=1$' pgrep -f -- "$D "
LABPID=
exec 7>&-
D2=$WORK/lab2
LAB_STDIN=$WORK/stdin2
mkfifo "$LAB_STDIN"
exec 8<>"$LAB_STDIN"
start_lab "$D2" --exit-on-stdin-eof 8>&-
await_ready "$D2"
exec 8>&-  # the only writer is gone: the lab reads EOF
if wait_gone "$LABPID" 5; then wait "$LABPID"; rc=$?; else rc=timeout; fi
check "stdin EOF: lab exits 0 within 5 s" '^0$' echo "$rc"
check "...the port is closed" '^rc=0$' refuses "$P"
check "no process of the lab left (pgrep -f $D2)" '^rc=1$' pgrep -f -- "$D2 "
LABPID=

echo "== $CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
