#!/usr/bin/env python3
"""Certificate-revocation world on loopback for the prober's OCSP/CRL tests: a small PKI made with
the openssl CLI, nginx serving the CRLs (http) and 22 TLS sites (https, SNI, some with OCSP
stapling), an OCSP responder answered by `openssl ocsp` from the intermediate's index.txt, and a
Python server playing the hostile CRL/OCSP peers.

usage: revocation_lab.py --dir D --tls-port T --http-port H --ocsp-port O --hostile-port X
                         [--exit-on-stdin-eof]
       revocation_lab.py oracle --dir D NAME

Lab: builds the PKI in D (made if missing; everything the lab owns in D is rebuilt each start),
starts nginx (config, pid, logs and temp paths in D) and the servers, all on 127.0.0.1 only, prints
one line `ready T` on stdout (flushed) once T, H, O and X accept connections, and stays in the
foreground. SIGTERM/SIGINT (or EOF on stdin with --exit-on-stdin-eof) stop nginx and exit 0; nginx
has PR_SET_PDEATHSIG=SIGKILL and runs as a single process (`master_process off`), so a SIGKILLed
lab takes it along. Needs nginx (with ssl_stapling), the openssl 3 CLI and Python's
`cryptography` package (for what the openssl CLI cannot make: an OCSP response that is already
stale, the hostile OCSP responses).

  T  https, nginx: server `NAME.rev.test` for each site below, chosen by SNI (no SNI or an unknown
     name: the handshake is rejected with an unrecognized_name alert); each sends leaf + issuing
     intermediate; every path answers 200 `revocation lab: NAME.rev.test`. Stapled sites send a
     fixed response from D/staple-NAME.der (ssl_stapling_file).
  H  http, nginx: /root.crl /int.crl /revint.crl /expired.crl /wrong-key.crl /garbage.crl
     /huge.crl (all DER or junk, `application/pkix-crl`); anything else 404.
  O  OCSP (RFC 6960 over HTTP, POST or GET /<base64>): each request is answered by
     `openssl ocsp -index D/int/index.txt -CA D/int.pem -rsigner D/responder.pem ... -reqin -`,
     i.e. a *delegated* responder (EKU OCSPSigning, issued by the intermediate, noCheck), the
     intermediate included in the response, nonce echoed, nextUpdate +1 day. See "why not
     `openssl ocsp -port`" below.
  X  hostile (Python, threaded; D/hostile.log has every request line): /silent* accepts and never
     answers (until the client closes, or 120 s); /garbage answers 200 application/ocsp-response
     with 512 random bytes; /wrong-serial a fresh, validly signed (by the intermediate) "good"
     response for another serial; /unrelated a "good" response for the right serial signed by an
     unrelated self-signed certificate that is included in the response. Anything else: 404.

PKI (EC P-256, SHA-256): "Revocation Lab Root" (D/root.pem, the prober's ca_file) ->
"Revocation Lab Intermediate" (D/int.pem, CDP H/root.crl) -> the leaves; and
"Revoked Lab Intermediate" (D/revint.pem, CDP H/root.crl), revoked (keyCompromise) in root.crl.
Leaves: CN and single SAN NAME.rev.test, serverAuth, 1 year. CRLs are valid 7 days.

Sites (CDP = crlDistributionPoints, AIA = OCSP URL; "expect" = what the prober should conclude):
  good                 CDP int.crl + AIA O                                   good
  revoked              CDP + AIA, revoked keyCompromise                      revoked
  crl-good             CDP only                                              good
  crl-revoked          CDP only, revoked superseded                          revoked
  ocsp-good            AIA only                                              good
  ocsp-revoked         AIA only, revoked                                     revoked
  ocsp-unknown         AIA only, not in index.txt (responder: unknown)       unknown
  no-sources           neither                                               none
  stapled-good         CDP + AIA, staple good (signed by the intermediate)   good
  stapled-revoked      CDP + AIA, revoked, staple revoked                    revoked
  stapled-stale        CDP + AIA, good, staple good but nextUpdate 1 day ago stale
  ocsp-silent          AIA X/silent                                          unknown
  ocsp-garbage         AIA X/garbage                                         unknown
  ocsp-wrong-serial    AIA X/wrong-serial                                    unknown
  ocsp-unrelated-key   AIA X/unrelated                                       unknown
  crl-huge             CDP H/huge.crl (100 MiB of zeros)                     unknown
  crl-wrong-key        CDP H/wrong-key.crl (issuer DN and AKI of the
                       intermediate, signed by another key)                  unknown
  crl-expired          CDP H/expired.crl (nextUpdate 2 days ago)             unknown
  crl-silent           CDP X/silent.crl                                      unknown
  crl-garbage          CDP H/garbage.crl (4 KiB random)                      unknown
  crl-fallback-ocsp    CDP H/missing.crl (404) + AIA O                       good
  revoked-intermediate issued by the revoked intermediate, CDP revint.crl    revoked

D/lab.json: {"tls_port": T, "http_port": H, "ocsp_port": O, "hostile_port": X, "root": "D/root.pem",
  "sites": {NAME: {"host": "NAME.rev.test", "leaf": ..., "key": ..., "issuer": ..., "chain": ...,
  "crl_urls": [...], "ocsp_urls": [...], "stapled": bool, "expect": ..., "note": ...}}}
D/ready.json: ports, pid of nginx, pki_s and startup_s (seconds).

Oracle: `oracle --dir D NAME` (lab running from D) prints one JSON line
{"crl": V, "ocsp": V, "stapled": V}, V = "good" | "revoked" | "unknown" | "none" | "error: <text>",
as openssl itself judges it:
  crl      every CRL named by the leaf's and the intermediate's CDPs, fetched with urllib (5 s
           timeout, no proxy, at most 20 MiB), then `openssl verify -crl_check_all -CAfile root
           -untrusted ISSUER -CRLfile ... LEAF`. "none" when the leaf has no CDP.
  ocsp     `openssl ocsp -issuer ISSUER -cert LEAF -url URL -CAfile root -timeout 5`
           ("Response Verify Failure" -> error; "Status times invalid" -> "error: stale").
  stapled  `openssl s_client -connect 127.0.0.1:T -servername NAME.rev.test -status -msg`: no
           staple -> "none"; else the staple's DER (cut out of -msg's dump of the TLS 1.3
           Certificate message) is checked with `openssl ocsp -respin ... -issuer -cert -CAfile`
           (a stale one -> "error: stale").

Why not `openssl ocsp -port O`: openssl 3.0's responder binds the wildcard address ([::], every
interface; -port takes only a number), and it serves one connection at a time, so a client that
connects and stays silent stalls every other client. The responder here is a threaded Python HTTP
front on 127.0.0.1:O that hands each request to `openssl ocsp ... -reqin - -respout` (same
index, same signer, same response bytes as `-port` would produce).
"""
import argparse
import base64
import concurrent.futures
import ctypes
import datetime
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DOMAIN = "rev.test"
ROOT_CN = "Revocation Lab Root"
INT_CN = "Revocation Lab Intermediate"
REVINT_CN = "Revoked Lab Intermediate"
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
HUGE_BYTES = 100 * 1024 * 1024
ORACLE_MAX_CRL = 20 * 1024 * 1024
MALFORMED_REQUEST = bytes.fromhex("3003 0a01 01")  # OCSPResponse{responseStatus malformedRequest(1)}

# Everything the lab writes in D (removed at start; other files in D are left alone).
OWNED = ["root", "int", "revint", "wrongca", "sites", "www", "tmp", "openssl.cnf", "nginx.conf", "nginx.pid",
         "nginx.stdout.log", "error.log", "access.log", "ocsp.log", "hostile.log", "lab.json", "ready.json"]
OWNED += [f"{name}.{ext}" for name in ("root", "int", "revint", "responder", "wrongca", "unrelated")
          for ext in ("pem", "key", "csr")]


def site(name, cdp=None, aia=None, expect="good", note="", issuer="int", revoke=None, indexed=True, staple=None):
    """One TLS site. cdp/aia are URL templates: {H} nginx http, {O} OCSP responder, {X} hostile."""
    return dict(name=name, cdp=cdp, aia=aia, expect=expect, note=note, issuer=issuer, revoke=revoke,
                indexed=indexed, staple=staple)


SITES = [
    site("good", "{H}/int.crl", "{O}", "good", "not revoked; CRL and OCSP agree"),
    site("revoked", "{H}/int.crl", "{O}", "revoked", "revoked keyCompromise in index.txt and int.crl",
         revoke="keyCompromise"),
    site("crl-good", "{H}/int.crl", None, "good", "CDP only"),
    site("crl-revoked", "{H}/int.crl", None, "revoked", "CDP only; revoked superseded in int.crl",
         revoke="superseded"),
    site("ocsp-good", None, "{O}", "good", "AIA only"),
    site("ocsp-revoked", None, "{O}", "revoked", "AIA only; revoked keyCompromise", revoke="keyCompromise"),
    site("ocsp-unknown", None, "{O}", "unknown", "AIA only; signed by the intermediate but not in its "
         "index.txt, so the responder answers unknown", indexed=False),
    site("no-sources", None, None, "none", "no CDP, no AIA"),
    site("stapled-good", "{H}/int.crl", "{O}", "good", "nginx staples a good response signed by the "
         "intermediate itself (no certificates in it)", staple="openssl"),
    site("stapled-revoked", "{H}/int.crl", "{O}", "revoked", "revoked everywhere; the staple says revoked",
         revoke="keyCompromise", staple="openssl"),
    site("stapled-stale", "{H}/int.crl", "{O}", "stale", "good in CRL and OCSP; the staple says good but "
         "thisUpdate is 3 days and nextUpdate 1 day ago: report ocsp_response_stale, then good from the CRL",
         staple="stale"),
    site("ocsp-silent", None, "{X}/silent", "unknown", "the OCSP responder accepts and never answers"),
    site("ocsp-garbage", None, "{X}/garbage", "unknown", "the OCSP responder answers 512 random bytes"),
    site("ocsp-wrong-serial", None, "{X}/wrong-serial", "unknown", "a fresh, validly signed good response "
         "for another serial (the `good` site's)"),
    site("ocsp-unrelated-key", None, "{X}/unrelated", "unknown", "a good response for the right serial, "
         "signed by an unrelated self-signed certificate included in the response"),
    site("crl-huge", "{H}/huge.crl", None, "unknown", "the CRL is 100 MiB (of zeros)"),
    site("crl-wrong-key", "{H}/wrong-key.crl", None, "unknown", "CRL with the intermediate's issuer DN and "
         "authorityKeyIdentifier, signed by another key; valid dates; does not list the leaf"),
    site("crl-expired", "{H}/expired.crl", None, "unknown", "CRL signed by the intermediate, lastUpdate 10 "
         "days ago, nextUpdate 2 days ago; does not list the leaf"),
    site("crl-silent", "{X}/silent.crl", None, "unknown", "the CRL server accepts and never answers"),
    site("crl-garbage", "{H}/garbage.crl", None, "unknown", "the CRL is 4 KiB of random bytes"),
    site("crl-fallback-ocsp", "{H}/missing.crl", "{O}", "good", "the CRL is 404; OCSP says good"),
    site("revoked-intermediate", "{H}/revint.crl", None, "revoked", "leaf is good in revint.crl, but its "
         "issuer (Revoked Lab Intermediate) is revoked keyCompromise in root.crl", issuer="revint"),
]


def log(msg):
    print(f"revocation_lab: {msg}", file=sys.stderr, flush=True)


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def port_free(port):
    s = socket.socket()
    # SO_REUSEADDR as nginx and the Python servers use it: connections in TIME_WAIT (a previous lab on
    # the same ports) do not count, a listener does
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def asn1time(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def write(path, data, mode=0o644):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)


# ---------------------------------------------------------------- PKI (openssl CLI)

def ossl(*args, stdin=None):
    r = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True)
    if r.returncode != 0:
        raise SystemExit(f"revocation_lab: openssl {' '.join(args)} failed ({r.returncode}):\n"
                         + r.stderr.decode(errors="replace") + r.stdout.decode(errors="replace"))
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def ossl_parallel(commands):
    """Key generation dominates the PKI's cost and every key/CSR is independent: run them at once."""
    procs = [(c, subprocess.Popen([OPENSSL, *c], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)) for c in commands]
    for c, p in procs:
        out = p.communicate()[0]
        if p.returncode != 0:
            raise SystemExit(f"revocation_lab: openssl {' '.join(c)} failed:\n{out.decode(errors='replace')}")


def cnf_value(path):
    """A path as an openssl config value ($ expands variables, # starts a comment, \\ escapes)."""
    return path.replace("\\", "\\\\").replace("$", "\\$").replace("#", "\\#")


def openssl_cnf(d, urls):
    """One config for everything: the three `openssl ca` databases and every extension section."""
    L = ["# written by revocation_lab.py", "[ req ]", "distinguished_name = req_dn", "[ req_dn ]",
         "[ policy_cn ]", "commonName = supplied"]
    for ca, cert in (("root", "root"), ("int", "int"), ("revint", "revint"), ("wrongca", "wrongca")):
        L += [f"[ ca_{ca} ]",
              f"certificate = {cnf_value(os.path.join(d, cert + '.pem'))}",
              f"private_key = {cnf_value(os.path.join(d, cert + '.key'))}",
              f"database = {cnf_value(os.path.join(d, ca, 'index.txt'))}",
              f"new_certs_dir = {cnf_value(os.path.join(d, ca, 'certs'))}",
              f"serial = {cnf_value(os.path.join(d, ca, 'serial'))}",
              "rand_serial = yes",  # random 159-bit serials: a prober's cache never sees a reused one
              f"crlnumber = {cnf_value(os.path.join(d, ca, 'crlnumber'))}",
              "default_md = sha256", "default_days = 365", "default_crl_days = 7",
              "policy = policy_cn", "unique_subject = no", "copy_extensions = none", "email_in_dn = no"]
    L += ["[ v3_root ]", "basicConstraints = critical, CA:TRUE",
          "keyUsage = critical, keyCertSign, cRLSign", "subjectKeyIdentifier = hash",
          # digitalSignature: the intermediate signs OCSP responses itself (the staples)
          "[ v3_int ]", "basicConstraints = critical, CA:TRUE, pathlen:0",
          "keyUsage = critical, digitalSignature, keyCertSign, cRLSign", "subjectKeyIdentifier = hash",
          "authorityKeyIdentifier = keyid:always", f"crlDistributionPoints = URI:{urls['H']}/root.crl",
          "[ v3_responder ]", "basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
          "extendedKeyUsage = critical, OCSPSigning", "noCheck = ignored", "subjectKeyIdentifier = hash",
          "authorityKeyIdentifier = keyid:always",
          "[ v3_unrelated ]", "basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
          "extendedKeyUsage = OCSPSigning", "subjectKeyIdentifier = hash",
          "[ crl_ext ]", "authorityKeyIdentifier = keyid:always"]
    for s in SITES:
        L += [f"[ {section(s)} ]", "basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
              "extendedKeyUsage = serverAuth", f"subjectAltName = DNS:{s['name']}.{DOMAIN}",
              "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always"]
        if s["cdp"]:
            L.append(f"crlDistributionPoints = URI:{s['cdp'].format(**urls)}")
        if s["aia"]:
            L.append(f"authorityInfoAccess = OCSP;URI:{s['aia'].format(**urls)}")
    return "\n".join(L) + "\n"


def section(s):
    return "leaf_" + s["name"].replace("-", "_")  # '-' is not allowed in openssl config section names


def der_crl(pem_path, der_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(pem_path, "rb") as f:
        crl = x509.load_pem_x509_crl(f.read())
    write(der_path, crl.public_bytes(serialization.Encoding.DER))


def build_pki(d, urls):
    """Everything in D; returns what the servers need (staples, hostile responses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    P = lambda *parts: os.path.join(d, *parts)  # noqa: E731
    cnf = P("openssl.cnf")
    write(cnf, openssl_cnf(d, urls))
    for ca in ("root", "int", "revint", "wrongca"):
        os.makedirs(P(ca, "certs"))
        write(P(ca, "index.txt"), "")
        write(P(ca, "serial"), "01\n")
        write(P(ca, "crlnumber"), "1000\n")
    os.makedirs(P("www"))
    for s in SITES:
        os.makedirs(P("sites", s["name"]))

    # 1. every key (+ CSR, or self-signed certificate) at once
    jobs = [["req", "-x509", "-new", *EC, "-keyout", P("root.key"), "-out", P("root.pem"), "-subj", f"/CN={ROOT_CN}",
             "-days", "3650", "-config", cnf, "-extensions", "v3_root"],
            ["req", "-x509", "-new", *EC, "-keyout", P("unrelated.key"), "-out", P("unrelated.pem"),
             "-subj", "/CN=Unrelated OCSP Signer", "-days", "365", "-config", cnf, "-extensions", "v3_unrelated"],
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", P("wrongca.key")]]
    for name, cn in (("int", INT_CN), ("revint", REVINT_CN), ("responder", "Revocation Lab OCSP Responder")):
        jobs.append(["req", "-new", *EC, "-keyout", P(name + ".key"), "-out", P(name + ".csr"), "-subj", f"/CN={cn}",
                     "-config", cnf])
    for s in SITES:
        host = f"{s['name']}.{DOMAIN}"
        jobs.append(["req", "-new", *EC, "-keyout", P("sites", s["name"], "leaf.key"),
                     "-out", P("sites", s["name"], "leaf.csr"), "-subj", f"/CN={host}", "-config", cnf])
    ossl_parallel(jobs)

    # 2. the CA hierarchy; each `openssl ca` records the certificate in that CA's index.txt
    def sign(ca, csr, out, ext, days="365"):
        ossl("ca", "-batch", "-notext", "-config", cnf, "-name", f"ca_{ca}", "-in", csr, "-out", out,
             "-extensions", ext, "-days", days)

    sign("root", P("int.csr"), P("int.pem"), "v3_int", "1825")
    sign("root", P("revint.csr"), P("revint.pem"), "v3_int", "1825")
    sign("int", P("responder.csr"), P("responder.pem"), "v3_responder")
    for s in SITES:
        sd = P("sites", s["name"])
        if s["indexed"]:
            sign(s["issuer"], os.path.join(sd, "leaf.csr"), os.path.join(sd, "leaf.pem"), section(s))
        else:
            # `openssl x509 -req` signs without touching index.txt: the responder has never heard of it
            ossl("x509", "-req", "-in", os.path.join(sd, "leaf.csr"), "-CA", P(s["issuer"] + ".pem"),
                 "-CAkey", P(s["issuer"] + ".key"), "-set_serial", "0x" + os.urandom(16).hex(), "-days", "365",
                 "-extfile", cnf, "-extensions", section(s), "-out", os.path.join(sd, "leaf.pem"))
        with open(os.path.join(sd, "chain.pem"), "w") as f:
            for part in (os.path.join(sd, "leaf.pem"), P(s["issuer"] + ".pem")):
                with open(part) as src:
                    f.write(src.read())

    # 3. the impostor CA for wrong-key.crl: same subject DN as the intermediate and the same
    # subjectKeyIdentifier, so its CRLs carry the intermediate's issuer name *and* AKI; only the
    # signature tells them apart
    with open(P("int.pem"), "rb") as f:
        int_cert = x509.load_pem_x509_certificate(f.read())
    ski = int_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    with open(cnf, "a") as f:
        f.write("[ v3_wrongca ]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
                f"subjectKeyIdentifier = {':'.join('%02X' % b for b in ski)}\n")
    ossl("req", "-x509", "-new", "-key", P("wrongca.key"), "-out", P("wrongca.pem"), "-subj", f"/CN={INT_CN}",
         "-days", "3650", "-config", cnf, "-extensions", "v3_wrongca")

    # 4. revocations, then the CRLs (PEM from openssl ca, served as DER)
    ossl("ca", "-batch", "-config", cnf, "-name", "ca_root", "-revoke", P("revint.pem"), "-crl_reason", "keyCompromise")
    for s in SITES:
        if s["revoke"]:
            ossl("ca", "-batch", "-config", cnf, "-name", "ca_int", "-revoke", P("sites", s["name"], "leaf.pem"),
                 "-crl_reason", s["revoke"])
    now = utcnow()
    crls = [("root", "root.crl", []), ("int", "int.crl", []), ("revint", "revint.crl", []),
            ("wrongca", "wrong-key.crl", []),
            ("int", "expired.crl", ["-crl_lastupdate", asn1time(now - datetime.timedelta(days=10)),
                                    "-crl_nextupdate", asn1time(now - datetime.timedelta(days=2))])]
    for ca, name, extra in crls:
        pem = P(ca, name + ".pem")
        ossl("ca", "-batch", "-config", cnf, "-name", f"ca_{ca}", "-gencrl", "-crlexts", "crl_ext", "-out", pem, *extra)
        der_crl(pem, P("www", name))
    write(P("www", "garbage.crl"), os.urandom(4096))
    with open(P("www", "huge.crl"), "wb") as f:  # sparse: 100 MiB on the wire, nothing on disk
        f.truncate(HUGE_BYTES)

    # 5. staples: `openssl ocsp` as its own responder, from the index, signed by the intermediate
    # itself ("issuer signed"), no nonce, no certificates (the client has the issuer from the chain)
    for s in SITES:
        if s["staple"] == "openssl":
            ossl("ocsp", "-index", P("int", "index.txt"), "-CA", P("int.pem"), "-rsigner", P("int.pem"),
                       "-rkey", P("int.key"), "-issuer", P("int.pem"), "-cert", P("sites", s["name"], "leaf.pem"),
                       "-no_nonce", "-resp_no_certs", "-ndays", "1", "-CAfile", P("root.pem"),
                       "-respout", P(f"staple-{s['name']}.der"))
            # (the responding run prints nothing: read the staple back as a client would)
            out = ossl("ocsp", "-respin", P(f"staple-{s['name']}.der"), "-issuer", P("int.pem"),
                       "-cert", P("sites", s["name"], "leaf.pem"), "-CAfile", P("root.pem"), "-no_nonce")
            want = "revoked" if s["revoke"] else "good"
            if not re.search(rf": {want}\b", out) or "Response verify OK" not in out:
                raise SystemExit(f"revocation_lab: staple for {s['name']} is not '{want}':\n{out}")

    # 6. what the openssl CLI cannot make: an OCSP response that is already stale, and the hostile ones
    def load_cert(path):
        with open(path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    def load_key(path):
        with open(path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), None)

    int_key = load_key(P("int.key"))
    leaf = {s["name"]: load_cert(P("sites", s["name"], "leaf.pem")) for s in SITES}

    def response(cert, this_update, next_update, signer_cert, signer_key, include_signer=False):
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=cert, issuer=int_cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=this_update, next_update=next_update, revocation_time=None, revocation_reason=None)
        b = b.responder_id(ocsp.OCSPResponderEncoding.NAME, signer_cert)
        if include_signer:
            b = b.certificates([signer_cert])
        return b.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    day = datetime.timedelta(days=1)
    # (producedAt is "now": cryptography sets it at signing time)
    write(P("staple-stapled-stale.der"), response(leaf["stapled-stale"], now - 3 * day, now - day, int_cert, int_key))
    hostile = {
        "wrong-serial": response(leaf["good"], now, now + day, int_cert, int_key),
        "unrelated": response(leaf["ocsp-unrelated-key"], now, now + day, load_cert(P("unrelated.pem")),
                              load_key(P("unrelated.key")), include_signer=True),
    }
    return hostile


# ---------------------------------------------------------------- nginx

def nginx_conf(d, args):
    q = lambda p: '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    P = lambda *parts: q(os.path.join(d, *parts))  # noqa: E731
    L = ["# written by revocation_lab.py"]
    if os.geteuid() == 0:
        # (only meaningful for root; with master_process off nothing changes uid, the name is used
        # for the temp directories' owner)
        L.append("user root root;")
    L += ["daemon off;",
          # one process: PR_SET_PDEATHSIG reaches all of nginx (orphaned workers would keep the ports)
          "master_process off;",
          f"pid {P('nginx.pid')};", f"lock_file {P('tmp', 'nginx.lock')};",
          f"error_log {P('error.log')} info;",
          "events { worker_connections 512; }",
          "http {",
          "    log_format lab '$time_iso8601 $remote_addr:$server_port \"$ssl_server_name\" \"$request\" "
          "$status $body_bytes_sent';",
          f"    access_log {P('access.log')} lab;",
          f"    client_body_temp_path {P('tmp', 'client_body')};",
          f"    proxy_temp_path {P('tmp', 'proxy')};",
          f"    fastcgi_temp_path {P('tmp', 'fastcgi')};",
          f"    uwsgi_temp_path {P('tmp', 'uwsgi')};",
          f"    scgi_temp_path {P('tmp', 'scgi')};",
          "    types { application/pkix-crl crl; }",
          "    default_type application/octet-stream;",
          "    sendfile on;", "    server_tokens off;", "    keepalive_timeout 15;",
          "    ssl_protocols TLSv1.2 TLSv1.3;",
          "    server {",
          f"        listen 127.0.0.1:{args.http_port};",
          f"        root {P('www')};",
          "        location / { try_files $uri =404; }",
          "    }",
          "    server {",
          f"        listen 127.0.0.1:{args.tls_port} ssl default_server;",
          "        ssl_reject_handshake on;  # no SNI / unknown name: unrecognized_name alert",
          "    }"]
    for s in SITES:
        host = f"{s['name']}.{DOMAIN}"
        L += ["    server {",
              f"        listen 127.0.0.1:{args.tls_port} ssl;",
              f"        server_name {host};",
              f"        ssl_certificate {P('sites', s['name'], 'chain.pem')};",
              f"        ssl_certificate_key {P('sites', s['name'], 'leaf.key')};"]
        if s["staple"]:
            L += ["        ssl_stapling on;", f"        ssl_stapling_file {P('staple-' + s['name'] + '.der')};"]
        L += [f"        location / {{ default_type text/plain; return 200 \"revocation lab: {host}\\n\"; }}",
              "    }"]
    L.append("}")
    return "\n".join(L) + "\n"


def start_nginx(d):
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec():
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    out = open(os.path.join(d, "nginx.stdout.log"), "w")
    return subprocess.Popen([NGINX, "-p", d + "/", "-c", os.path.join(d, "nginx.conf"), "-e",
                             os.path.join(d, "error.log")],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec, cwd=d)


# ---------------------------------------------------------------- OCSP responder and hostile server

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "revocation-lab"
    sys_version = ""
    logfile = None
    lock = threading.Lock()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *a):  # our own log lines instead of stderr
        pass

    def record(self, what):
        with self.lock, open(self.logfile, "a") as f:
            f.write(f"{utcnow().isoformat()} {self.client_address[0]}:{self.client_address[1]} "
                    f"\"{self.requestline}\" {what}\n")

    def body(self, limit=65536):
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise ValueError(f"body of {n} bytes")
        return self.rfile.read(n) if n else b""

    def send(self, code, data, ctype="application/ocsp-response"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        try:
            self.answer()
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            self.close_connection = True
            try:
                self.record(f"error {e}")
            except OSError:
                pass

    do_POST = do_HEAD = do_GET


class OcspHandler(Handler):
    """RFC 6960 appendix A over HTTP; the answer itself comes from `openssl ocsp -reqin`."""
    responder = None  # openssl ocsp arguments, set at start
    tmpdir = None     # where each response is written (D/tmp/ocsp)

    def answer(self):
        if self.command == "POST":
            req = self.body()
        else:  # GET {url}/{url-encoding of base64(DER)}
            try:
                req = base64.b64decode(urllib.parse.unquote(self.path.lstrip("/")), validate=True)
            except ValueError:
                req = b""
        if not req:
            self.record("400 no request")
            return self.send(400, b"no OCSP request\n", "text/plain")
        with tempfile.NamedTemporaryFile(dir=self.tmpdir, suffix=".der") as out:
            r = subprocess.run([OPENSSL, "ocsp", *self.responder, "-reqin", "-", "-respout", out.name],
                               input=req, capture_output=True, timeout=10)
            resp = out.read() if r.returncode == 0 else b""
        if not resp:
            err = (r.stderr.decode(errors="replace").strip().splitlines() or ["?"])[0]
            self.record(f"200 malformedRequest (openssl: {err})")
            return self.send(200, MALFORMED_REQUEST)
        self.record(f"200 {len(resp)} bytes")
        self.send(200, resp)


class HostileHandler(Handler):
    responses = {}  # path's first segment -> DER

    def answer(self):
        first = urllib.parse.urlsplit(self.path).path.lstrip("/").split("/")[0]
        if first.startswith("silent"):
            self.record("silent")
            self.close_connection = True
            # hold the connection, read and drop whatever comes, never answer
            self.connection.settimeout(120)
            try:
                while self.connection.recv(65536):
                    pass
            except OSError:
                pass
            return
        self.body()
        if first == "garbage":
            self.record("200 garbage")
            return self.send(200, os.urandom(512))
        if first in self.responses:
            self.record(f"200 {first}")
            return self.send(200, self.responses[first])
        self.record("404")
        self.send(404, b"not found\n", "text/plain")


def serve(handler, port):
    srv = Server(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# ---------------------------------------------------------------- lab

def run_lab(args):
    t0 = time.time()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    ports = {"T": args.tls_port, "H": args.http_port, "O": args.ocsp_port, "X": args.hostile_port}
    if len(set(ports.values())) != 4:
        sys.exit("revocation_lab: the four ports must differ")
    busy = [f"{k}={p}" for k, p in ports.items() if not port_free(p)]
    if busy:
        sys.exit(f"revocation_lab: port(s) in use on 127.0.0.1: {', '.join(busy)}")
    for name in OWNED + [n for n in os.listdir(d) if n.startswith("staple-")]:
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "ocsp"):
        os.makedirs(os.path.join(d, "tmp", sub))
    urls = {"H": f"http://127.0.0.1:{args.http_port}", "O": f"http://127.0.0.1:{args.ocsp_port}",
            "X": f"http://127.0.0.1:{args.hostile_port}"}
    hostile = build_pki(d, urls)
    t_pki = time.time() - t0

    write(os.path.join(d, "nginx.conf"), nginx_conf(d, args))
    for f in ("ocsp.log", "hostile.log", "access.log"):
        write(os.path.join(d, f), "")
    # nginx first, from the main thread and before any other thread exists: preexec_fn is not
    # thread-safe, and PR_SET_PDEATHSIG fires when the *thread* that forked the child exits
    nginx = start_nginx(d)

    OcspHandler.logfile = os.path.join(d, "ocsp.log")
    OcspHandler.tmpdir = os.path.join(d, "tmp", "ocsp")
    OcspHandler.responder = ["-index", os.path.join(d, "int", "index.txt"), "-CA", os.path.join(d, "int.pem"),
                             "-rsigner", os.path.join(d, "responder.pem"), "-rkey", os.path.join(d, "responder.key"),
                             "-rother", os.path.join(d, "int.pem"), "-ndays", "1"]
    HostileHandler.logfile = os.path.join(d, "hostile.log")
    HostileHandler.responses = hostile
    serve(OcspHandler, args.ocsp_port)
    serve(HostileHandler, args.hostile_port)

    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.exit_on_stdin_eof:
        def watch():
            # os.read, not sys.stdin.buffer.read(): a daemon thread blocked inside the buffered reader
            # holds its lock, and interpreter shutdown then aborts (SIGABRT) instead of exiting 0
            try:
                while os.read(0, 65536):
                    pass
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch, daemon=True).start()

    deadline = time.time() + 15
    while not all(can_connect(p) for p in ports.values()):
        if nginx.poll() is not None:
            log(f"nginx exited {nginx.returncode}:\n" + tail(os.path.join(d, "error.log"))
                + tail(os.path.join(d, "nginx.stdout.log")))
            quit_now(1)
        if time.time() > deadline or stopping:
            stop(nginx)
            log("stopped before ready" if stopping else "not all ports listen after 15 s:\n"
                + tail(os.path.join(d, "error.log")))
            quit_now(0 if stopping else 1)
        time.sleep(0.01)
    t_ready = time.time() - t0

    lab = {"tls_port": args.tls_port, "http_port": args.http_port, "ocsp_port": args.ocsp_port,
           "hostile_port": args.hostile_port, "root": os.path.join(d, "root.pem"), "sites": {}}
    for s in SITES:
        sd = os.path.join(d, "sites", s["name"])
        lab["sites"][s["name"]] = {
            "host": f"{s['name']}.{DOMAIN}", "leaf": os.path.join(sd, "leaf.pem"), "key": os.path.join(sd, "leaf.key"),
            "issuer": os.path.join(d, s["issuer"] + ".pem"), "chain": os.path.join(sd, "chain.pem"),
            "crl_urls": [s["cdp"].format(**urls)] if s["cdp"] else [],
            "ocsp_urls": [s["aia"].format(**urls)] if s["aia"] else [],
            "stapled": bool(s["staple"]), "expect": s["expect"], "note": s["note"]}
    write(os.path.join(d, "lab.json"), json.dumps(lab, indent=1) + "\n")
    write(os.path.join(d, "ready.json"), json.dumps({**lab, "sites": None, "nginx_pid": nginx.pid,
                                                     "pki_s": round(t_pki, 3), "startup_s": round(t_ready, 3)}) + "\n")
    print(f"ready {args.tls_port}", flush=True)

    while not stopping:
        if nginx.poll() is not None:
            log(f"nginx exited by itself ({nginx.returncode}):\n" + tail(os.path.join(d, "error.log")))
            quit_now(1)
        time.sleep(0.05)
    stop(nginx)
    quit_now(0)


def quit_now(code):
    """Exit without interpreter shutdown: server threads may be inside a request (or a 120 s silent
    hold), and the stdin watcher inside a read; none of them needs a goodbye."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop(nginx):
    if nginx.poll() is None:
        nginx.terminate()  # nginx: SIGTERM = fast shutdown
        try:
            nginx.wait(3)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()


# ---------------------------------------------------------------- oracle

def short(text, n=120):
    text = " ".join(str(text).split())
    return text[:n]


def first_error_line(text):
    """openssl's headline (`Error querying OCSP responder`) plus the reason of the first line of its
    error stack (`4017...:error:10000069:BIO routines:BIO_wait:transfer timeout:file:line:`)."""
    head, reason = None, None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]*)", line)
        if m:
            reason = reason or m.group(1)
        elif line and head is None:
            head = re.sub(r" from \S+$", "", line)  # drop our temp file names
    return ": ".join(x for x in (head, reason) if x) or "no output"


def fetch(url, limit=ORACLE_MAX_CRL):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    with opener.open(url, timeout=5) as r:
        n = r.headers.get("Content-Length")
        if n and int(n) > limit:
            raise ValueError(f"larger than {limit >> 20} MiB (Content-Length {n})")
        data = r.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"larger than {limit >> 20} MiB")
        return data


def fetch_error(e):
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        e = e.reason
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    return short(e)


def cdp_urls(pem_path):
    from cryptography import x509
    with open(pem_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [n.value for dp in cdp for n in (dp.full_name or []) if isinstance(n, x509.UniformResourceIdentifier)]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)


def oracle_crl(lab, s, tmp):
    if not s["crl_urls"]:
        return "none"
    files = []
    for i, url in enumerate(s["crl_urls"] + cdp_urls(s["issuer"])):
        try:
            data = fetch(url)
        except Exception as e:
            return f"error: {url.rsplit('/', 1)[-1]}: {fetch_error(e)}"
        files.append(os.path.join(tmp, f"crl{i}.der"))
        write(files[-1], data)
    cmd = [OPENSSL, "verify", "-crl_check_all", "-CAfile", lab["root"], "-untrusted", s["issuer"]]
    for f in files:
        cmd += ["-CRLfile", f]
    r = run(cmd + [s["leaf"]], timeout=30)
    out = r.stdout + r.stderr
    if r.returncode == 0 and re.search(r": OK$", r.stdout, re.M):
        return "good"
    m = re.search(r"error (\d+) at (\d+) depth lookup: (.+)", out)
    if m:
        return "revoked" if m.group(3).strip() == "certificate revoked" else f"error: {m.group(3).strip()}"
    return f"error: {short(first_error_line(out))}"


def ocsp_verdict(r):
    """The verdict of an `openssl ocsp` run that checked one certificate."""
    out = r.stdout + r.stderr
    if "Response Verify Failure" in out:
        return "error: response verify failure"
    if "Status times invalid" in out:
        return "error: stale"
    if re.search(r": ERROR: No Status found", out):
        return "error: no status for this certificate"
    m = re.search(r": (good|revoked|unknown)$", r.stdout, re.M)
    if m and r.returncode == 0:
        return m.group(1)
    return f"error: {short(first_error_line(r.stderr or r.stdout))}"


def oracle_ocsp(lab, s, tmp):
    if not s["ocsp_urls"]:
        return "none"
    r = run([OPENSSL, "ocsp", "-issuer", s["issuer"], "-cert", s["leaf"], "-url", s["ocsp_urls"][0],
             "-CAfile", lab["root"], "-timeout", "5"], timeout=30)
    return ocsp_verdict(r)


def staple_from_msg(text):
    """The OCSPResponse DER that s_client -msg printed, from the TLS 1.3 Certificate message (its first
    entry's status_request extension) or a TLS 1.2 CertificateStatus message; None if absent."""
    blocks, cur = [], None
    for line in text.splitlines():
        if line.startswith("<<< "):
            cur = [line, bytearray()]
            blocks.append(cur)
        elif cur is not None and re.match(r"^\s+([0-9a-f]{2}\s?)+$", line):
            cur[1] += bytes.fromhex(line.strip())
        else:
            cur = None
    for head, msg in blocks:
        try:
            if head.endswith(", CertificateStatus") and msg[0] == 22 and msg[4] == 1:
                n = int.from_bytes(msg[5:8], "big")
                return bytes(msg[8:8 + n])
            if head.endswith(", Certificate") and "TLS 1.3" in head and msg[0] == 11:
                p = 4
                p += 1 + msg[p]                    # certificate_request_context
                p += 3                             # certificate_list length
                p += 3 + int.from_bytes(msg[p:p + 3], "big")  # first cert_data
                ext_end = p + 2 + int.from_bytes(msg[p:p + 2], "big")
                p += 2
                while p < ext_end:
                    etype, elen = int.from_bytes(msg[p:p + 2], "big"), int.from_bytes(msg[p + 2:p + 4], "big")
                    if etype == 5 and msg[p + 4] == 1:  # status_request, CertificateStatus{ocsp}
                        n = int.from_bytes(msg[p + 5:p + 8], "big")
                        return bytes(msg[p + 8:p + 8 + n])
                    p += 4 + elen
        except IndexError:
            continue
    return None


def oracle_stapled(lab, s, tmp):
    r = run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{lab['tls_port']}", "-servername", s["host"],
             "-status", "-msg", "-CAfile", lab["root"]], stdin=subprocess.DEVNULL, timeout=30)
    out = r.stdout
    if "OCSP response: no response sent" in out:
        return "none"
    if "OCSP response:" not in out:
        return f"error: no handshake: {short(first_error_line(r.stderr or out))}"
    der = staple_from_msg(out)
    if der is None:  # should not happen; fall back to s_client's own printout
        m = re.search(r"Cert Status: (\w+)", out)
        return m.group(1) if m else "error: " + short(re.search(r"OCSP Response Status: (.*)", out).group(1))
    f = os.path.join(tmp, "staple.der")
    write(f, der)
    # -no_nonce: a staple has no nonce; -issuer lets openssl accept a response signed by the issuer itself
    return ocsp_verdict(run([OPENSSL, "ocsp", "-respin", f, "-issuer", s["issuer"], "-cert", s["leaf"],
                             "-CAfile", lab["root"], "-no_nonce"], timeout=30))


def run_oracle(argv):
    ap = argparse.ArgumentParser(prog="revocation_lab.py oracle", description="openssl's verdicts for one site")
    ap.add_argument("--dir", required=True)
    ap.add_argument("name")
    args = ap.parse_args(argv)
    for k in list(os.environ):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            del os.environ[k]  # loopback only, never through a proxy (openssl ocsp honours http_proxy)
    d = os.path.abspath(args.dir)
    try:
        with open(os.path.join(d, "lab.json")) as f:
            lab = json.load(f)
    except OSError as e:
        sys.exit(f"revocation_lab oracle: no lab in {d}: {e}")
    name = args.name[:-len("." + DOMAIN)] if args.name.endswith("." + DOMAIN) else args.name
    if name not in lab["sites"]:
        sys.exit(f"revocation_lab oracle: no site {args.name!r} (have: {', '.join(lab['sites'])})")
    s = lab["sites"][name]
    result = {}
    with tempfile.TemporaryDirectory(prefix="revlab-oracle-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(3) as ex:
        futures = {}
        for key, fn in (("crl", oracle_crl), ("ocsp", oracle_ocsp), ("stapled", oracle_stapled)):
            sub = os.path.join(tmp, key)
            os.mkdir(sub)
            futures[key] = ex.submit(fn, lab, s, sub)
        for key, fut in futures.items():
            try:
                result[key] = fut.result()
            except Exception as e:
                result[key] = f"error: {short(e)}"
    print(json.dumps(result), flush=True)


def main():
    # Started by Foundation's Process, which may leave SIGTERM blocked: unblock it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    if len(sys.argv) > 1 and sys.argv[1] == "oracle":
        return run_oracle(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--ocsp-port", type=int, required=True)
    ap.add_argument("--hostile-port", type=int, required=True)
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="stop when stdin reaches EOF (the test process is gone)")
    run_lab(ap.parse_args())


if __name__ == "__main__":
    main()
