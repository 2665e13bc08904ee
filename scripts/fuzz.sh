#!/usr/bin/env bash
# Fuzzes one parser with libFuzzer + AddressSanitizer for SECONDS (default 60).
#   scripts/fuzz.sh ntlm_challenge|www_authenticate|soap_response|forms_login|http_response|ldap_response|revocation_response|autodiscover_response|config_loader [SECONDS]
# The seed corpus is Fuzz/corpus/TARGET (committed); new inputs go to .build/fuzz/TARGET-corpus.
# FUZZ_SEED=N makes the run repeatable (CI: a red run is a finding someone can reproduce).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target}
seconds=${2:-60}
seed=()
[ -n "${FUZZ_SEED:-}" ] && seed=("-seed=$FUZZ_SEED")
T=Sources/EWSProbeTransport
C=Sources/EWSProbeChecks
K=Sources/EWSProbeCore
out=.build/fuzz
mkdir -p "$out/$target-corpus"
if [ "$target" = config_loader ]; then
  # The loader needs the whole library (Yams, libcurl, OpenSSL): its own package, built by SwiftPM.
  (cd Fuzz/ConfigFuzz && swift build -c release --sanitize=fuzzer --sanitize=address 2>&1 | grep -E "error|Compiling FuzzConfig|Build complete") || true
  binary=Fuzz/ConfigFuzz/.build/release/FuzzConfig
  test -x "$binary"
  exec "$binary" "${seed[@]}" -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=2 -print_final_stats=1 \
    "$out/$target-corpus" "Fuzz/corpus/$target"
fi
case "$target" in
  ntlm_challenge) flag=FUZZ_NTLM; files="$T/Auth/NTLMMessages.swift $T/Auth/NTLMCrypto.swift $T/Auth/Secret.swift" ;;
  www_authenticate) flag=FUZZ_AUTH; files="$T/Auth/AuthChallengeParser.swift" ;;
  soap_response) flag=FUZZ_SOAP; files="$C/EWS/EWSResponseParser.swift" ;;
  forms_login) flag=FUZZ_FORMS; files="$C/FormsAuth/FormsLoginClassifier.swift" ;;
  http_response) flag=FUZZ_HTTP; files="$T/Direct/ResponseReader.swift $T/HTTP/ResponseHead.swift $T/Connect/StreamPreamble.swift $T/Connect/HTTPConnectPreamble.swift $T/Socket/IPAddress.swift $T/Proxy/ProxyOutcome.swift $T/Proxy/ProxyRoute.swift $T/Proxy/ProxyTunnel.swift $T/Auth/AuthChallengeParser.swift $T/Auth/NTLMMessages.swift $T/Auth/NTLMCrypto.swift $T/Auth/Secret.swift" ;;
  autodiscover_response) flag=FUZZ_AUTODISCOVER; files="$C/Autodiscover/AutodiscoverResponseParser.swift $C/Autodiscover/AutodiscoverAnswer.swift $C/Autodiscover/EwsURLComparison.swift $C/EWS/EWSResponseParser.swift $T/URL/EndpointURL.swift $T/URL/EndpointKind.swift $T/URL/HostName.swift $T/Socket/IPAddress.swift" ;;
  revocation_response) flag=FUZZ_REVOCATION; files="$T/Revocation/CRLDocument.swift $T/Revocation/OCSPResponse.swift $T/Revocation/RevocationAnswer.swift $T/TLS/HexText.swift $T/TLS/Certificate.swift $T/TLS/ChainVerifier.swift $T/TLS/PEMText.swift $T/TLS/TrustStores.swift $T/TLS/VerdictCache.swift $T/Files/RegularFile.swift $T/Threads/UnsafeSendable.swift" ;;
  ldap_response) flag=FUZZ_LDAP; files="$T/Connect/BERElement.swift $T/Connect/LDAPStartTLSPreamble.swift $T/Connect/StreamPreamble.swift $T/Proxy/ProxyOutcome.swift" ;;
  *) echo "unknown target $target" >&2; exit 3 ;;
esac
rm -f "$out/fuzz-$target"
# The parsers come from several of the package's modules; compiled here as one, so the imports of
# the package's own modules go (copies in the build folder, the sources stay as they are).
flat="$out/$target-sources"
rm -rf "$flat" && mkdir -p "$flat"
for f in $files; do sed 's/^import EWSProbe.*$//' "$f" >"$flat/$(basename "$f")"; done
# shellcheck disable=SC2086
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name EWSProbeFuzz -package-name ewsprobe -D "$flag" \
  -Xcc -fmodule-map-file=Sources/COpenSSL/module.modulemap -I Sources/COpenSSL \
  Fuzz/FuzzEntry.swift "$flat"/*.swift -o "$out/fuzz-$target" 2>&1 | grep -v "warning:" || true
test -x "$out/fuzz-$target"
"$out/fuzz-$target" "${seed[@]}" -max_total_time="$seconds" -max_len=70000 -rss_limit_mb=2048 -print_final_stats=1 \
  "$out/$target-corpus" "Fuzz/corpus/$target"
