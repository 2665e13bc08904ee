#!/usr/bin/env python3
"""Exchange Autodiscover world on loopback for the prober's `autodiscover` check: a DNS server
(dnsmasq) for the names under adlab.test, nginx terminating https (443) and http (80) on one
loopback address per name, a Python responder behind nginx producing the POX (autodiscover.xml)
and SOAP (autodiscover.svc, GetUserSettings) answers, and a silent TCP listener.

usage: autodiscover_lab.py --dir D --dns-port P --responder-port R [--password PW]
                           [--subnet 127.0.20] [--exit-on-stdin-eof]
       autodiscover_lab.py oracle --dir D ADDRESS [--no-auth] [--timeout 30] [-v]

Lab: makes the PKI in D with the openssl CLI (everything the lab owns in D is rebuilt each start),
starts dnsmasq (127.0.0.1:P, UDP and TCP), the responder (127.0.0.1:R), the silent listener and
nginx (SUBNET.N:443 / SUBNET.N:80, one address per name, see D/lab.json "addresses"), prints one
line `ready P` on stdout (flushed) once all of them answer, and stays in the foreground.
SIGTERM/SIGINT (or EOF on stdin with --exit-on-stdin-eof) stop nginx and dnsmasq and exit 0; both
have PR_SET_PDEATHSIG=SIGKILL and nginx runs as a single process (`master_process off`), so a
SIGKILLed lab takes them along. Needs root (ports 443 and 80), nginx, dnsmasq (dnsmasq-base), the
openssl 3 CLI; Python stdlib only (the oracle needs exchangelib, installed with pip if missing).

DNS (dnsmasq, --no-resolv --no-hosts, config/log/pid in D): A records for the names in "addresses",
SRV records for _autodiscover._tcp.{srv,srvorder,srvflood}.adlab.test, NXDOMAIN for any other name
under adlab.test (NOERROR without data for a name with records below it, e.g. srv.adlab.test), and
REFUSED for everything else (nothing is forwarded). TTL 0. Queries are logged to D/dnsmasq.log.

TLS: "AdLab Root CA" (D/root.pem: the prober's ca_file) signs one leaf per https name (SAN = that
name, serverAuth, EC P-256). untrusted.adlab.test serves a self-signed leaf for its own name;
autodiscover.wrongname.adlab.test a leaf signed by the lab root for elsewhere.adlab.test.

nginx: on every https name, /autodiscover/... (any case) needs Basic auth (D/htpasswd: user
svc@adlab.test, --password; realm "adlab"; authfail.adlab.test checks D/htpasswd-other, which has
another user only) and is proxied to the responder (Authorization removed, X-Lab-Name = the
server block's name); any other path is 404. The http names answer 302 (autodiscover.httponly,
autodiscover.insecurehttp: target + the request URI) or proxy to the responder behind the same
Basic auth (the traps autodiscover.insecure and mail.insecurehttp: a client that follows an
insecure redirect gets settings there, and the log shows whether it sent credentials in clear).
D/access.log: `TIME ADDR:PORT host="Host" sni="SNI" "REQUEST LINE" STATUS BYTES auth=yes|no`
(auth = an Authorization header was present; its value is never logged). D/error.log: nginx.

Responder (D/responder.log: one line per answer): the answer depends on X-Lab-Name (the name nginx
received the request for) and on the address asked (POX <EMailAddress>, SOAP <Mailbox>). A body
whose root element is a SOAP Envelope gets the SOAP form, anything else the POX form (so a SOAP
client redirected to an .xml URL still gets SOAP). A GET gets the POX error 600 Invalid Request.
  settings      POX Action settings with Protocol EXPR / EXCH (EwsUrl); SOAP ExternalEwsUrl /
                InternalEwsUrl (+ AutoDiscoverSMTPAddress, UserDisplayName).
  redirectAddr  POX Action redirectAddr + RedirectAddr LOCALPART@DOMAIN (the local part asked);
                SOAP UserResponse ErrorCode RedirectAddress + RedirectTarget.
  redirectUrl   POX Action redirectUrl + RedirectUrl; SOAP ErrorCode RedirectUrl + RedirectTarget
                (the same URL with autodiscover.svc for autodiscover.xml).
  error500      POX Response/Error ErrorCode 500 "The e-mail address cannot be found.";
                SOAP UserResponse ErrorCode InvalidUser.
  chain         redirectUrl to https://chain.adlab.test/autodiscover/autodiscover.xml?hop=N+1
                (N from the request's own ?hop=, 0 without): distinct URLs forever.
  malformed     200 text/xml, not well-formed (mismatched end tag, truncated).
  bomb          200 text/xml, a billion-laughs DOCTYPE (10 levels x10 of "lol": 3 GB expanded)
                whose EwsUrl is &lol9;; the document is 1.7 KB.
  huge          200 text/xml, >50 MiB, no Content-Length (chunked through nginx): a settings
                document whose first 50 MiB are one comment, so nothing useful comes before the cap.

The names, addresses, SRV records and per-domain expectations are in the DOMAINS and HOSTS tables
below and in D/lab.json:
  {"dns": "127.0.0.1:P", "root": "D/root.pem", "user": "svc@adlab.test", "password": PW,
   "domains": {DOMAIN: {"email": "user@DOMAIN", "expect": "pass" | reason, "ews_url": EXPR url
     or null, "target_url": url, "credentials": bool, "exchangelib_ews_url": url or null,
     "note": ...}},
   "addresses": {NAME: IP}, "srv": {SRV NAME: [[priority, weight, port, target], ...]},
   "listeners": {NAME: {"https": what, "http": what}}}
D/ready.json: pids of nginx and dnsmasq, pki_s and startup_s (seconds).

Oracle: `oracle --dir D ADDRESS` (lab running from D) runs exchangelib's autodiscovery
(exchangelib.autodiscover.Autodiscovery, the SOAP protocol on autodiscover.svc) for ADDRESS with the
lab's credentials (none with --no-auth) and prints one JSON line
{"ews_url": URL or null, "error": "Type: message" or null, "tried": [urls exchangelib asked]}.
exchangelib resolves through the lab's DNS (its Autodiscovery resolver and socket.getaddrinfo for
*.adlab.test; any other name that is not a loopback address fails), verifies TLS with D/root.pem only
(BaseProtocol.HTTP_ADAPTER_CLS), uses no proxy, and its autodiscover cache lives in a temporary
directory (not the shared file in /tmp). Gives up after --timeout seconds (30).
"""
import argparse
import base64
import ctypes
import datetime
import fcntl
import hashlib
import http.server
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
ZONE = "adlab.test"
USER = "svc@adlab.test"
OTHER_USER = "someone-else@adlab.test"
DEFAULT_PASSWORD = "Ad-Lab-Pass!1"
REALM = "adlab"
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
HUGE_BYTES = 50 * 1024 * 1024
SRVFLOOD_COUNT = 200

REQ_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESP_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
RESP_NS_A = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA_NS = "http://www.w3.org/2005/08/addressing"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

OWNED = ["certs", "tmp", "openssl.cnf", "root.pem", "root.key", "root.srl", "htpasswd", "htpasswd-other",
         "nginx.conf", "nginx.pid", "nginx.stdout.log", "error.log", "access.log", "dnsmasq.conf", "dnsmasq.pid",
         "dnsmasq.log", "dnsmasq.stdout.log", "responder.log", "silent.log", "lab.json", "ready.json"]


def N(label):
    return f"{label}.{ZONE}" if label else ZONE


def ews(host):
    return f"https://{host}/EWS/Exchange.asmx"


def ad_xml(host, scheme="https"):
    return f"{scheme}://{host}/autodiscover/autodiscover.xml"


# ---------------------------------------------------------------- the world

# Behaviours of the responder (what /autodiscover/ answers on a name).
def settings(expr=None, exch=None):
    return {"kind": "settings", "expr": expr, "exch": exch}


def redirect_addr(domain):
    return {"kind": "redirectAddr", "domain": domain}


def redirect_url(url):
    return {"kind": "redirectUrl", "url": url}


def simple(kind):
    return {"kind": kind}


# Every name with an A record, in address order (SUBNET.10, .11, ...). For each: what listens on
# 443 ("https": a responder behaviour behind nginx + Basic auth; "silent": the Python listener) and
# on 80 ("http": ("302", target prefix) or a behaviour behind Basic auth); "cert": good | untrusted |
# wrongname; "auth": lab | other. Nothing listed = nothing listens (connection refused).
HOSTS = [
    dict(name=N("root"), https=settings(ews(N("mail.root")), ews(N("mail-int.root")))),
    dict(name=N("adhost")),
    dict(name=N("autodiscover.adhost"), https=settings(ews(N("mail.adhost")))),
    dict(name=N("httponly")),
    dict(name=N("autodiscover.httponly"), http=("302", "https://" + N("redirect.httponly"))),
    dict(name=N("redirect.httponly"), https=settings(ews(N("mail.httponly")))),
    dict(name=N("mail.srv"), https=settings(ews(N("mail.srv")))),
    dict(name=N("wrong.srvorder"), https=settings(ews(N("wrong.srvorder")))),
    dict(name=N("right.srvorder"), https=settings(ews(N("right.srvorder")))),
    dict(name=N("low.srvorder"), https=settings(ews(N("low.srvorder")))),
    dict(name=N("mismatch"), https=settings(ews(N("other.mismatch")))),
    dict(name=N("internal"), https=settings(None, ews(N("mail.internal")))),
    dict(name=N("unknown"), https=simple("error500")),
    dict(name=N("redirectaddr"), https=redirect_addr(N("root"))),
    dict(name=N("redirecturl"), https=redirect_url(ad_xml(N("autodiscover.adhost")))),
    dict(name=N("loop"), https=redirect_addr(N("loop"))),
    dict(name=N("chain"), https=simple("chain")),
    dict(name=N("insecure"), https=redirect_url(ad_xml(N("autodiscover.insecure"), "http"))),
    dict(name=N("autodiscover.insecure"), http=settings(ews(N("mail.insecure")))),
    dict(name=N("autodiscover.insecurehttp"), http=("302", "http://" + N("mail.insecurehttp"))),
    dict(name=N("mail.insecurehttp"), http=settings(ews(N("mail.insecurehttp")))),
    dict(name=N("untrusted"), https=settings(ews(N("mail.untrusted"))), cert="untrusted"),
    dict(name=N("autodiscover.wrongname"), https=settings(ews(N("mail.wrongname"))), cert="wrongname"),
    dict(name=N("none")),
    dict(name=N("autodiscover.none")),
    dict(name=N("authfail"), https=settings(ews(N("mail.authfail"))), auth="other"),
    dict(name=N("malformed"), https=simple("malformed")),
    dict(name=N("bomb"), https=simple("bomb")),
    dict(name=N("huge"), https=simple("huge")),
    dict(name=N("silent"), silent=True),
    dict(name=N("noauth"), https=settings(ews(N("mail.noauth")))),
]
SRVFLOOD_TARGETS = [N(f"t{i:03d}.srvflood") for i in range(1, SRVFLOOD_COUNT + 1)]  # all on one dead address
WRONG_CERT_NAME = N("elsewhere")

SRV = {
    "_autodiscover._tcp." + N("srv"): [(0, 0, 443, N("mail.srv"))],
    "_autodiscover._tcp." + N("srvorder"): [(10, 100, 443, N("wrong.srvorder")), (0, 10, 443, N("right.srvorder")),
                                            (0, 1, 443, N("low.srvorder"))],
    "_autodiscover._tcp." + N("srvflood"): [(i % 7, (i * 37) % 101, 443, t) for i, t in enumerate(SRVFLOOD_TARGETS)],
}


def dom(label, expect, ews_url, note, target_url=None, credentials=True, exchangelib=None):
    d = N(label)
    return d, {"email": f"user@{d}", "expect": expect, "ews_url": ews_url,
               "target_url": target_url or ews_url or ews(N("mail." + label)), "credentials": credentials,
               "exchangelib_ews_url": ews_url if exchangelib is None and expect == "pass" else exchangelib,
               "note": note}


DOMAINS = dict([
    dom("root", "pass", ews(N("mail.root")), "candidate 1 answers settings: EXPR mail.root, EXCH mail-int.root"),
    dom("adhost", "pass", ews(N("mail.adhost")), "adhost.adlab.test resolves but refuses 443; candidate 2 "
        "autodiscover.adhost.adlab.test answers settings"),
    dom("httponly", "pass", ews(N("mail.httponly")), "candidates 1 and 2 resolve and refuse 443; candidate 3 "
        "http://autodiscover.httponly.adlab.test/... GET answers 302 to https://redirect.httponly.adlab.test + the "
        "request URI, which answers settings"),
    dom("srv", "pass", ews(N("mail.srv")), "no A for srv.adlab.test (NODATA) nor autodiscover.srv.adlab.test "
        "(NXDOMAIN); SRV _autodiscover._tcp.srv.adlab.test 0 0 443 mail.srv.adlab.test answers settings"),
    dom("srvorder", "pass", ews(N("right.srvorder")), "SRV only: 10 100 wrong, 0 10 right, 0 1 low (each answers "
        "settings with its own name); lowest priority, then highest weight = right. exchangelib takes the "
        "numerically highest priority (wrong)", exchangelib=ews(N("wrong.srvorder"))),
    dom("mismatch", "ews_url_mismatch", ews(N("other.mismatch")), "candidate 1 answers EXPR other.mismatch; the "
        "target is configured with mail.mismatch", target_url=ews(N("mail.mismatch")),
        exchangelib=ews(N("other.mismatch"))),
    dom("internal", "external_ews_url_missing", None, "candidate 1 answers settings with only an EXCH protocol "
        "(EwsUrl mail.internal): no external URL"),
    dom("unknown", "address_not_found", None, "candidate 1 answers the POX error ErrorCode 500 (SOAP: InvalidUser)"),
    dom("redirectaddr", "pass", ews(N("mail.root")), "candidate 1 answers redirectAddr user@root.adlab.test "
        "(the asked local part @root.adlab.test); root answers settings"),
    dom("redirecturl", "pass", ews(N("mail.adhost")), "candidate 1 answers redirectUrl "
        "https://autodiscover.adhost.adlab.test/autodiscover/autodiscover.xml, which answers settings"),
    dom("loop", "redirect_loop", None, "candidate 1 answers redirectAddr to the address asked (user@loop.adlab.test)"),
    dom("chain", "redirect_loop", None, "every answer is redirectUrl to https://chain.adlab.test/autodiscover/"
        "autodiscover.xml?hop=N+1: distinct URLs forever (give up after 10)"),
    dom("insecure", "insecure_redirect", None, "candidate 1 answers redirectUrl http://autodiscover.insecure.adlab.test"
        "/autodiscover/autodiscover.xml (plain http; a client that follows it gets settings mail.insecure there)"),
    dom("insecurehttp", "insecure_redirect", None, "only candidate 3: http://autodiscover.insecurehttp.adlab.test GET "
        "answers 302 to http://mail.insecurehttp.adlab.test + the request URI (plain http; settings there)"),
    dom("untrusted", "tls_untrusted", None, "only candidate 1, with a self-signed certificate (for its own name); "
        "would answer settings. No Authorization may reach it"),
    dom("wrongname", "tls_untrusted", None, "only candidate 2, with a certificate from the lab root for "
        "elsewhere.adlab.test; would answer settings. No Authorization may reach it"),
    dom("none", "no_autodiscover", None, "none.adlab.test and autodiscover.none.adlab.test resolve, nothing listens "
        "(443 and 80 refused); no SRV"),
    dom("authfail", "auth_rejected", None, "candidate 1's htpasswd has another user only: 401 with the credentials"),
    dom("malformed", "invalid_response", None, "candidate 1 answers 200 text/xml that is not well-formed (a "
        "mismatched end tag, the root never closed). exchangelib's lxml parser recovers and reads the URL",
        exchangelib=ews(N("mail.malformed"))),
    dom("bomb", "invalid_response", None, "candidate 1 answers a billion-laughs document (entity expansion)"),
    dom("huge", "invalid_response", None, "candidate 1 answers 200 text/xml of more than 50 MiB, no Content-Length; "
        "the first 50 MiB are one comment. exchangelib has no size cap and reads the URL after it",
        exchangelib=ews(N("mail.huge"))),
    dom("silent", "no_autodiscover", None, "candidate 1 accepts TCP on 443 and never sends a byte (Python listener); "
        "no candidate 2, 3 or SRV"),
    dom("srvflood", "no_autodiscover", None, f"SRV with {SRVFLOOD_COUNT} records (more than a UDP answer holds: "
        f"truncated, TCP needed) to t001..t{SRVFLOOD_COUNT:03d}.srvflood.adlab.test, all on one address where "
        "nothing listens"),
    dom("noauth", "pass", None, "like root, to be probed without credentials: candidate 1 verifies and answers 401 "
        "(Basic); with the credentials it answers settings mail.noauth", target_url=ews(N("mail.noauth")),
        credentials=False, exchangelib=ews(N("mail.noauth"))),
])


def log(msg):
    print(f"autodiscover_lab: {msg}", file=sys.stderr, flush=True)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def write(path, data, mode=0o644):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def can_connect(addr, port):
    try:
        socket.create_connection((addr, port), 0.2).close()
        return True
    except OSError:
        return False


def bind_error(addr, port, kind=socket.SOCK_STREAM):
    """None if ADDR:PORT can be bound (as nginx/dnsmasq would, SO_REUSEADDR), else the reason."""
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        return None
    except OSError as e:
        return e.strerror or str(e)
    finally:
        s.close()


def addresses(subnet):
    """NAME -> IP for every name with an A record."""
    out = {h["name"]: f"{subnet}.{10 + i}" for i, h in enumerate(HOSTS)}
    dead = f"{subnet}.{10 + len(HOSTS)}"
    out.update({t: dead for t in SRVFLOOD_TARGETS})
    return out


def listeners():
    out = {}
    for h in HOSTS:
        entry = {}
        if h.get("https"):
            entry["https"] = h["https"]["kind"] + {"untrusted": " (self-signed certificate)",
                                                   "wrongname": f" (certificate for {WRONG_CERT_NAME})"}.get(
                h.get("cert"), "") + (" (htpasswd without the lab user)" if h.get("auth") == "other" else "")
        if h.get("silent"):
            entry["https"] = "silent (accepts, never answers)"
        if h.get("http"):
            entry["http"] = (f"302 to {h['http'][1]}<request URI>" if isinstance(h["http"], tuple)
                             else h["http"]["kind"] + " (plain http)")
        out[h["name"]] = entry
    return out


# ---------------------------------------------------------------- PKI (openssl CLI)

def ossl_parallel(commands):
    procs = [(c, subprocess.Popen([OPENSSL, *c], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)) for c in commands]
    for c, p in procs:
        out = p.communicate()[0]
        if p.returncode != 0:
            raise SystemExit(f"autodiscover_lab: openssl {' '.join(c)} failed:\n{out.decode(errors='replace')}")


def section(name):
    return "leaf_" + re.sub(r"[^A-Za-z0-9]", "_", name)


def tls_hosts():
    return [h for h in HOSTS if h.get("https")]


def build_pki(d):
    P = lambda *parts: os.path.join(d, *parts)  # noqa: E731
    cnf = P("openssl.cnf")
    L = ["# written by autodiscover_lab.py", "[ req ]", "distinguished_name = req_dn", "[ req_dn ]",
         "[ v3_root ]", "basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign",
         "subjectKeyIdentifier = hash"]
    leaves = [(h["name"], h.get("cert", "good")) for h in tls_hosts()]
    for name, cert in leaves:
        san = WRONG_CERT_NAME if cert == "wrongname" else name
        L += [f"[ {section(name)} ]", "basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
              "extendedKeyUsage = serverAuth", f"subjectAltName = DNS:{san}", "subjectKeyIdentifier = hash"]
        if cert != "untrusted":
            L.append("authorityKeyIdentifier = keyid:always")
    write(cnf, "\n".join(L) + "\n")
    os.makedirs(P("certs"))
    jobs = [["req", "-x509", "-new", *EC, "-keyout", P("root.key"), "-out", P("root.pem"), "-subj", "/CN=AdLab Root CA",
             "-days", "3650", "-config", cnf, "-extensions", "v3_root"]]
    for name, cert in leaves:
        base = P("certs", name)
        if cert == "untrusted":  # self-signed, for its own name
            jobs.append(["req", "-x509", "-new", *EC, "-keyout", base + ".key", "-out", base + ".pem",
                         "-subj", f"/CN={name}", "-days", "365", "-config", cnf, "-extensions", section(name)])
        else:
            cn = WRONG_CERT_NAME if cert == "wrongname" else name
            jobs.append(["req", "-new", *EC, "-keyout", base + ".key", "-out", base + ".csr", "-subj", f"/CN={cn}",
                         "-config", cnf])
    ossl_parallel(jobs)
    ossl_parallel([["x509", "-req", "-in", P("certs", name + ".csr"), "-CA", P("root.pem"), "-CAkey", P("root.key"),
                    "-set_serial", "0x" + os.urandom(16).hex(), "-days", "365", "-extfile", cnf,
                    "-extensions", section(name), "-out", P("certs", name + ".pem")]
                   for name, cert in leaves if cert != "untrusted"])


def htpasswd_line(user, password):
    """nginx's {SSHA}: base64(sha1(password + salt) + salt)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


# ---------------------------------------------------------------- dnsmasq

def dnsmasq_conf(d, args, addrs):
    L = ["# written by autodiscover_lab.py", f"port={args.dns_port}", "listen-address=127.0.0.1", "bind-interfaces",
         "no-resolv", "no-hosts", "no-poll", f"local=/{ZONE}/",
         f"pid-file={os.path.join(d, 'dnsmasq.pid')}", "log-queries", f"log-facility={os.path.join(d, 'dnsmasq.log')}",
         "cache-size=0"]
    if os.geteuid() == 0:
        # stay root: a uid/gid change would clear PR_SET_PDEATHSIG (and D may not be writable for nobody)
        L += ["user=root", "group=root"]
    for name, ip in addrs.items():
        L.append(f"host-record={name},{ip}")
    for srv, records in SRV.items():
        for prio, weight, port, target in records:
            L.append(f"srv-host={srv},{target},{port},{prio},{weight}")
    return "\n".join(L) + "\n"


def dns_query(port, name, qtype=1, timeout=0.3):
    """(rcode, ancount) of a UDP query to 127.0.0.1:port, or None."""
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    packet += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(packet, ("127.0.0.1", port))
        data = s.recv(4096)
        rid, flags, _, an = struct.unpack(">HHHH", data[:8])
        return (flags & 0xF, an) if rid == qid else None
    except OSError:
        return None
    finally:
        s.close()


# ---------------------------------------------------------------- nginx

def nginx_conf(d, args, addrs):
    q = lambda p: '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    P = lambda *parts: q(os.path.join(d, *parts))  # noqa: E731
    L = ["# written by autodiscover_lab.py"]
    if os.geteuid() == 0:
        L.append("user root root;")
    L += ["daemon off;",
          # one process: PR_SET_PDEATHSIG reaches all of nginx (orphaned workers would keep the ports)
          "master_process off;",
          f"pid {P('nginx.pid')};", f"lock_file {P('tmp', 'nginx.lock')};",
          f"error_log {P('error.log')} info;",
          "events { worker_connections 1024; }",
          "http {",
          # presence only: the header's value (the credentials) never reaches a log
          '    map $http_authorization $has_auth { "" no; default yes; }',
          "    log_format adlab '$time_iso8601 $server_addr:$server_port host=\"$http_host\" sni=\"$ssl_server_name\" "
          "\"$request\" $status $body_bytes_sent auth=$has_auth';",
          f"    access_log {P('access.log')} adlab;",
          f"    client_body_temp_path {P('tmp', 'client_body')};",
          f"    proxy_temp_path {P('tmp', 'proxy')};",
          f"    fastcgi_temp_path {P('tmp', 'fastcgi')};",
          f"    uwsgi_temp_path {P('tmp', 'uwsgi')};",
          f"    scgi_temp_path {P('tmp', 'scgi')};",
          "    default_type text/plain;",
          "    server_tokens off;", "    keepalive_timeout 15;",
          "    ssl_protocols TLSv1.2 TLSv1.3;",
          "    client_max_body_size 64k;",
          "    proxy_buffering off;  # huge streams through",
          "    proxy_read_timeout 30s;"]

    def to_responder(name, auth_file):
        return [f"        location ~* ^/autodiscover/ {{",
                f"            auth_basic \"{REALM}\";",
                f"            auth_basic_user_file {P(auth_file)};",
                f"            proxy_pass http://127.0.0.1:{args.responder_port};",
                "            proxy_set_header Host $http_host;",
                f"            proxy_set_header X-Lab-Name {name};",
                "            proxy_set_header X-Lab-Server $server_addr:$server_port;",
                "            proxy_set_header Authorization \"\";",
                "        }"]

    for h in HOSTS:
        name, ip = h["name"], addrs[h["name"]]
        auth_file = "htpasswd-other" if h.get("auth") == "other" else "htpasswd"
        if h.get("https"):
            L += ["    server {", f"        listen {ip}:443 ssl;", f"        server_name {name};",
                  f"        ssl_certificate {P('certs', name + '.pem')};",
                  f"        ssl_certificate_key {P('certs', name + '.key')};"]
            L += to_responder(name, auth_file)
            L += ["        location / { return 404 \"not found\\n\"; }", "    }"]
        if h.get("http"):
            L += ["    server {", f"        listen {ip}:80;", f"        server_name {name};"]
            if isinstance(h["http"], tuple):
                L += [f"        location ~* ^/autodiscover/ {{ return 302 {h['http'][1]}$request_uri; }}"]
            else:
                L += to_responder(name, auth_file)
            L += ["        location / { return 404 \"not found\\n\"; }", "    }"]
    L.append("}")
    return "\n".join(L) + "\n"


def nginx_endpoints(addrs):
    out = []
    for h in HOSTS:
        if h.get("https"):
            out.append((addrs[h["name"]], 443))
        if h.get("http"):
            out.append((addrs[h["name"]], 80))
    return out


def pdeathsig():
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec():
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    return preexec


def start_child(d, argv, logname):
    out = open(os.path.join(d, logname), "w")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            preexec_fn=pdeathsig(), cwd=d)


# ---------------------------------------------------------------- answers

def pox(inner):
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{RESP_NS}">\n'
            f'  <Response xmlns="{RESP_NS_A}">\n{inner}  </Response>\n</Autodiscover>\n')


def pox_user(email):
    local = escape(email.split("@")[0])
    return ("    <User>\n      <DisplayName>AdLab User</DisplayName>\n"
            f"      <LegacyDN>/o=AdLab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={local}"
            "</LegacyDN>\n"
            f"      <AutoDiscoverSMTPAddress>{escape(email)}</AutoDiscoverSMTPAddress>\n"
            "      <DeploymentId>7a1e9c52-3b0d-4f5e-9d21-6c8f0b4a2e17</DeploymentId>\n    </User>\n")


def pox_protocol(ptype, url):
    host = escape(urllib.parse.urlsplit(url).hostname or "")
    url = escape(url)
    extra = "        <SSL>On</SSL>\n        <AuthPackage>Basic</AuthPackage>\n" if ptype == "EXPR" else ""
    return (f"      <Protocol>\n        <Type>{ptype}</Type>\n        <Server>{host}</Server>\n{extra}"
            f"        <ASUrl>{url}</ASUrl>\n        <EwsUrl>{url}</EwsUrl>\n      </Protocol>\n")


def pox_settings(email, expr, exch):
    protocols = (pox_protocol("EXCH", exch) if exch else "") + (pox_protocol("EXPR", expr) if expr else "")
    return pox(pox_user(email) + "    <Account>\n      <AccountType>email</AccountType>\n"
               "      <Action>settings</Action>\n" + protocols + "    </Account>\n")


def pox_account(action, element, value):
    return pox(f"    <Account>\n      <AccountType>email</AccountType>\n      <Action>{action}</Action>\n"
               f"      <{element}>{escape(value)}</{element}>\n    </Account>\n")


def pox_error(code, message):
    # What Exchange sends: Error directly under a Response in the 2006 namespace (not in an Account)
    now = datetime.datetime.now().strftime("%H:%M:%S.%f") + "0"
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{RESP_NS}">\n  <Response>\n'
            f'    <Error Time="{now}" Id="2847162054">\n      <ErrorCode>{code}</ErrorCode>\n'
            f"      <Message>{escape(message)}</Message>\n      <DebugData />\n    </Error>\n"
            "  </Response>\n</Autodiscover>\n")


def soap(inner, response_error="NoError"):
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<s:Envelope xmlns:s="{SOAP_NS}" xmlns:a="{WSA_NS}">\n'
            "  <s:Header>\n"
            '    <a:Action s:mustUnderstand="1">http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/'
            "GetUserSettingsResponse</a:Action>\n"
            f'    <h:ServerVersionInfo xmlns:h="{ANS}" xmlns:i="{XSI_NS}">\n'
            "      <h:MajorVersion>15</h:MajorVersion>\n      <h:MinorVersion>2</h:MinorVersion>\n"
            "      <h:MajorBuildNumber>1544</h:MajorBuildNumber>\n      <h:MinorBuildNumber>4</h:MinorBuildNumber>\n"
            "      <h:Version>Exchange2016</h:Version>\n    </h:ServerVersionInfo>\n"
            "  </s:Header>\n  <s:Body>\n"
            f'    <GetUserSettingsResponseMessage xmlns="{ANS}">\n'
            f'      <Response xmlns:i="{XSI_NS}">\n'
            f"        <ErrorCode>{response_error}</ErrorCode>\n        <ErrorMessage />\n"
            f"        <UserResponses>\n{inner}        </UserResponses>\n"
            "      </Response>\n    </GetUserSettingsResponseMessage>\n  </s:Body>\n</s:Envelope>\n")


def soap_user(code, message, target=None, user_settings=()):
    t = f"<RedirectTarget>{escape(target)}</RedirectTarget>" if target else '<RedirectTarget i:nil="true" />'
    s = "".join(f'              <UserSetting i:type="StringSetting">\n                <Name>{n}</Name>\n'
                f"                <Value>{escape(v)}</Value>\n              </UserSetting>\n" for n, v in user_settings)
    return (f"          <UserResponse>\n            <ErrorCode>{code}</ErrorCode>\n"
            f"            <ErrorMessage>{escape(message)}</ErrorMessage>\n            {t}\n"
            "            <UserSettingErrors />\n"
            f"            <UserSettings>\n{s}            </UserSettings>\n          </UserResponse>\n")


def soap_url(url):
    """The SOAP twin of a POX autodiscover URL (autodiscover.xml -> autodiscover.svc)."""
    return re.sub(r"autodiscover\.xml", "autodiscover.svc", url, flags=re.I)


def bomb_doc(fmt):
    ents = ['  <!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = "lol" if i == 1 else f"lol{i - 1}"
        ents.append(f'  <!ENTITY lol{i} "' + f"&{prev};" * 10 + '">')
    root = "s:Envelope" if fmt == "soap" else "Autodiscover"
    head = f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE {root} [\n' + "\n".join(ents) + "\n]>\n"
    if fmt == "soap":
        body = soap(soap_user("NoError", "No error.", None, [("ExternalEwsUrl", "\x00LOL\x00"),
                                                              ("AutoDiscoverSMTPAddress", "user@" + N("bomb"))]))
    else:
        body = pox_settings("user@bomb.adlab.test", "\x00LOL\x00", None)
    body = body.split("\n", 1)[1]  # drop the XML declaration (it is in head)
    return (head + body).replace(escape("\x00LOL\x00"), "&lol9;").replace("\x00LOL\x00", "&lol9;")


def malformed_doc(fmt):
    if fmt == "soap":
        doc = soap(soap_user("NoError", "No error.", None, [("ExternalEwsUrl", ews(N("mail.malformed"))),
                                                             ("AutoDiscoverSMTPAddress", "user@" + N("malformed"))]))
        doc = doc.replace("</UserSettings>", "</UserSetings>")
    else:
        doc = pox_settings("user@malformed.adlab.test", ews(N("mail.malformed")), None)
        doc = doc.replace("</Account>", "</Acount>")
    return doc[:doc.rindex("</")]  # a mismatched end tag, and the root element never closed


def huge_parts(fmt):
    """(prefix, suffix) around HUGE_BYTES of padding inside one comment, before anything useful."""
    if fmt == "soap":
        doc = soap(soap_user("NoError", "No error.", None, [("ExternalEwsUrl", ews(N("mail.huge"))),
                                                             ("AutoDiscoverSMTPAddress", "user@" + N("huge"))]))
        cut = doc.index("  <s:Body>")
    else:
        doc = pox_settings("user@huge.adlab.test", ews(N("mail.huge")), None)
        cut = doc.index("    <User>")
    return (doc[:cut] + "<!-- ").encode(), (" -->\n" + doc[cut:]).encode()


def parse_request(body):
    """(fmt, email, settings) from a POX or SOAP autodiscover request body; email None if unreadable."""
    text = body.decode("utf-8", errors="replace")
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        return ("soap" if "Envelope" in text else "pox"), None, []
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ("soap" if SOAP_NS in text else "pox"), None, []
    local = lambda tag: tag.rsplit("}", 1)[-1]  # noqa: E731
    if local(root.tag) == "Envelope":
        email = next((e.text for e in root.iter() if local(e.tag) == "Mailbox" and e.text), None)
        wanted = [e.text for e in root.iter() if local(e.tag) == "Setting" and e.text]
        return "soap", (email or "").strip() or None, wanted
    email = next((e.text for e in root.iter() if local(e.tag) == "EMailAddress" and e.text), None)
    return "pox", (email or "").strip() or None, []


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Responder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "adlab-responder"
    sys_version = ""
    logfile = None
    hosts = {}
    lock = threading.Lock()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *a):
        pass

    def record(self, name, fmt, email, what):
        with self.lock, open(self.logfile, "a") as f:
            f.write(f"{utcnow().isoformat()} {name} \"{self.command} {self.path}\" {fmt} {email or '-'} -> {what}\n")

    def send(self, code, data, ctype="text/xml; charset=utf-8"):
        data = data.encode() if isinstance(data, str) else data
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_POST(self):
        try:
            self.answer()
        except (OSError, ValueError) as e:
            self.close_connection = True
            try:
                self.record("-", "-", None, f"error {e}")
            except OSError:
                pass

    do_GET = do_HEAD = do_POST

    def answer(self):
        name = (self.headers.get("X-Lab-Name") or self.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        h = self.hosts.get(name)
        n = int(self.headers.get("Content-Length") or 0)
        if n > 65536:
            raise ValueError(f"body of {n} bytes")
        body = self.rfile.read(n) if n else b""
        if h is None:
            self.record(name, "-", None, "404 unknown name")
            return self.send(404, "no such autodiscover host\n", "text/plain")
        if self.command != "POST":
            self.record(name, "pox", None, "200 error 600 (not a POST)")
            return self.send(200, pox_error(600, "Invalid Request"))
        fmt, email, wanted = parse_request(body)
        b = h
        kind = b["kind"]
        if kind == "malformed":
            self.record(name, fmt, email, "200 malformed")
            return self.send(200, malformed_doc(fmt))
        if kind == "bomb":
            self.record(name, fmt, email, "200 bomb")
            return self.send(200, bomb_doc(fmt))
        if kind == "huge":
            return self.send_huge(name, fmt, email)
        if email is None or "@" not in email:
            self.record(name, fmt, email, "200 invalid request")
            if fmt == "soap":
                return self.send(200, soap("", response_error="InvalidRequest"))
            return self.send(200, pox_error(600, "Invalid Request"))
        if kind == "settings":
            if fmt == "soap":
                have = {"ExternalEwsUrl": b["expr"], "InternalEwsUrl": b["exch"], "AutoDiscoverSMTPAddress": email,
                        "UserDisplayName": "AdLab User"}
                us = [(k, v) for k, v in have.items() if v and (not wanted or k in wanted)]
                self.record(name, fmt, email, f"200 settings {' '.join(k for k, _ in us)}")
                return self.send(200, soap(soap_user("NoError", "No error.", None, us)))
            self.record(name, fmt, email, f"200 settings EXPR={b['expr']} EXCH={b['exch']}")
            return self.send(200, pox_settings(email, b["expr"], b["exch"]))
        if kind == "redirectAddr":
            target = f"{email.split('@')[0]}@{b['domain']}"
            self.record(name, fmt, email, f"200 redirectAddr {target}")
            if fmt == "soap":
                return self.send(200, soap(soap_user("RedirectAddress", "Redirection address.", target)))
            return self.send(200, pox_account("redirectAddr", "RedirectAddr", target))
        if kind in ("redirectUrl", "chain"):
            if kind == "chain":
                qs = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                try:
                    hop = int((qs.get("hop") or ["0"])[0])
                except ValueError:
                    hop = 0
                url = ad_xml(N("chain")) + f"?hop={hop + 1}"
            else:
                url = b["url"]
            if fmt == "soap":
                url = soap_url(url)
            self.record(name, fmt, email, f"200 redirectUrl {url}")
            if fmt == "soap":
                return self.send(200, soap(soap_user("RedirectUrl", "Redirection URL.", url)))
            return self.send(200, pox_account("redirectUrl", "RedirectUrl", url))
        if kind == "error500":
            self.record(name, fmt, email, "200 error 500 / InvalidUser")
            if fmt == "soap":
                return self.send(200, soap(soap_user("InvalidUser", f"Invalid user: '{email}'")))
            return self.send(200, pox_error(500, "The e-mail address cannot be found."))
        self.record(name, fmt, email, f"500 unknown behaviour {kind}")
        return self.send(500, "lab error\n", "text/plain")

    def send_huge(self, name, fmt, email):
        prefix, suffix = huge_parts(fmt)
        self.record(name, fmt, email, f"200 huge {len(prefix) + HUGE_BYTES + len(suffix)} bytes")
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Connection", "close")  # no Content-Length: the body ends when the connection does
        self.end_headers()
        chunk = b"x" * 262144
        self.wfile.write(prefix)
        left = HUGE_BYTES
        while left > 0:
            self.wfile.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)
        self.wfile.write(suffix)


# ---------------------------------------------------------------- silent listener

def start_silent(addr, port, logfile):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(256)
    lock = threading.Lock()

    def hold(conn, peer):
        n = 0
        conn.settimeout(120)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                n += len(data)
        except OSError:
            pass
        finally:
            conn.close()
        with lock, open(logfile, "a") as f:
            f.write(f"{utcnow().isoformat()} {addr}:{port} from {peer[0]}:{peer[1]} closed after {n} bytes read\n")

    def loop():
        while True:
            try:
                conn, peer = srv.accept()
            except OSError:
                return
            with lock, open(logfile, "a") as f:
                f.write(f"{utcnow().isoformat()} {addr}:{port} accepted {peer[0]}:{peer[1]}\n")
            threading.Thread(target=hold, args=(conn, peer), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv


# ---------------------------------------------------------------- lab

def run_lab(args):
    t0 = time.time()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    m = re.fullmatch(r"127\.(\d{1,3})\.(\d{1,3})", args.subnet)
    if not m or not all(0 <= int(x) <= 255 for x in m.groups()) or args.subnet == "127.0.0":
        sys.exit("autodiscover_lab: --subnet must be 127.X.Y (not 127.0.0)")
    if args.dns_port == args.responder_port:
        sys.exit("autodiscover_lab: --dns-port and --responder-port must differ")
    addrs = addresses(args.subnet)
    endpoints = nginx_endpoints(addrs)
    silent = [(addrs[h["name"]], 443) for h in HOSTS if h.get("silent")]
    busy = []
    for addr, port, kind in ([("127.0.0.1", args.dns_port, socket.SOCK_DGRAM), ("127.0.0.1", args.dns_port,
                                                                                socket.SOCK_STREAM),
                              ("127.0.0.1", args.responder_port, socket.SOCK_STREAM)]
                             + [(a, p, socket.SOCK_STREAM) for a, p in endpoints + silent]):
        err = bind_error(addr, port, kind)
        if err:
            busy.append(f"{addr}:{port}{'/udp' if kind == socket.SOCK_DGRAM else ''} ({err})")
    if busy:
        sys.exit("autodiscover_lab: cannot bind: " + ", ".join(busy))
    for name in OWNED:
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "oracle"):
        os.makedirs(os.path.join(d, "tmp", sub))
    build_pki(d)
    t_pki = time.time() - t0
    write(os.path.join(d, "htpasswd"), htpasswd_line(USER, args.password))
    write(os.path.join(d, "htpasswd-other"), htpasswd_line(OTHER_USER, args.password))
    write(os.path.join(d, "nginx.conf"), nginx_conf(d, args, addrs))
    write(os.path.join(d, "dnsmasq.conf"), dnsmasq_conf(d, args, addrs))
    for f in ("access.log", "responder.log", "silent.log", "dnsmasq.log"):
        write(os.path.join(d, f), "")

    # children first, from the main thread and before any other thread exists: preexec_fn is not
    # thread-safe, and PR_SET_PDEATHSIG fires when the *thread* that forked the child exits
    dnsmasq = start_child(d, [DNSMASQ, "--keep-in-foreground", f"--conf-file={os.path.join(d, 'dnsmasq.conf')}"],
                          "dnsmasq.stdout.log")
    nginx = start_child(d, [NGINX, "-p", d + "/", "-c", os.path.join(d, "nginx.conf"), "-e",
                            os.path.join(d, "error.log")], "nginx.stdout.log")
    children = [("nginx", nginx, "error.log"), ("dnsmasq", dnsmasq, "dnsmasq.stdout.log")]

    Responder.logfile = os.path.join(d, "responder.log")
    Responder.hosts = {h["name"]: (h.get("https") or h.get("http")) for h in HOSTS
                       if isinstance(h.get("https") or h.get("http"), dict)}
    try:
        responder = Server(("127.0.0.1", args.responder_port), Responder)
        for addr, port in silent:
            start_silent(addr, port, os.path.join(d, "silent.log"))
    except OSError as e:
        stop(children)
        log(f"cannot listen: {e}")
        quit_now(1)
    threading.Thread(target=responder.serve_forever, daemon=True).start()

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

    pending = list(endpoints) + [("127.0.0.1", args.responder_port)]
    dns_ok = False
    deadline = time.time() + 15
    while pending or not dns_ok:
        pending = [(a, p) for a, p in pending if not can_connect(a, p)]
        if not dns_ok:
            r = dns_query(args.dns_port, N("root"))
            dns_ok = r is not None and r[0] == 0 and r[1] >= 1
        for what, proc, logname in children:
            if proc.poll() is not None:
                log(f"{what} exited {proc.returncode}:\n" + tail(os.path.join(d, logname))
                    + tail(os.path.join(d, what + ".stdout.log")))
                stop(children)
                quit_now(1)
        if time.time() > deadline or stopping:
            stop(children)
            log("stopped before ready" if stopping else
                f"not ready after 15 s (dns {'ok' if dns_ok else 'silent'}, not listening: {pending}):\n"
                + tail(os.path.join(d, "error.log")))
            quit_now(0 if stopping else 1)
        if pending or not dns_ok:
            time.sleep(0.01)
    t_ready = time.time() - t0

    lab = {"dns": f"127.0.0.1:{args.dns_port}", "root": os.path.join(d, "root.pem"), "user": USER,
           "password": args.password, "domains": DOMAINS, "addresses": addrs,
           "srv": {k: [list(r) for r in v] for k, v in SRV.items()}, "listeners": listeners()}
    write(os.path.join(d, "lab.json"), json.dumps(lab, indent=1) + "\n")
    write(os.path.join(d, "ready.json"), json.dumps({
        "dns_port": args.dns_port, "responder_port": args.responder_port, "subnet": args.subnet,
        "nginx_pid": nginx.pid, "dnsmasq_pid": dnsmasq.pid, "pki_s": round(t_pki, 3),
        "startup_s": round(t_ready, 3)}) + "\n")
    print(f"ready {args.dns_port}", flush=True)

    while not stopping:
        for what, proc, logname in children:
            if proc.poll() is not None:
                log(f"{what} exited by itself ({proc.returncode}):\n" + tail(os.path.join(d, logname)))
                stop(children)
                quit_now(1)
        time.sleep(0.05)
    stop(children)
    quit_now(0)


def quit_now(code):
    """Exit without interpreter shutdown: server threads may be inside a request (the huge body, a
    silent hold of up to 120 s), and the stdin watcher inside a read."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop(children):
    for _, proc, _ in children:
        if proc.poll() is None:
            proc.terminate()  # nginx: SIGTERM = fast shutdown; dnsmasq: exit
    for _, proc, _ in children:
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- oracle (exchangelib)

def short(text, n=300):
    return " ".join(str(text).split())[:n]


def import_exchangelib(d):
    try:
        import exchangelib  # noqa: F401
        return None
    except ImportError:
        pass
    # one pip at a time (the selftest runs several oracles at once)
    with open(os.path.join(d, "tmp", "oracle", "pip.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            import exchangelib  # noqa: F401,F811
            return None
        except ImportError:
            pass
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "exchangelib"], capture_output=True, text=True)
        if r.returncode != 0:
            return "pip install exchangelib failed: " + short(r.stderr or r.stdout)
    import importlib
    importlib.invalidate_caches()
    try:
        import exchangelib  # noqa: F401,F811
        return None
    except ImportError as e:
        return f"exchangelib not importable: {e}"


def run_oracle(argv):
    ap = argparse.ArgumentParser(prog="autodiscover_lab.py oracle", description="exchangelib's autodiscovery")
    ap.add_argument("--dir", required=True)
    ap.add_argument("address")
    ap.add_argument("--no-auth", action="store_true", help="no credentials")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("-v", action="store_true", help="exchangelib's debug log on stderr")
    args = ap.parse_args(argv)
    for k in list(os.environ):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "requests_ca_bundle",
                         "curl_ca_bundle", "ssl_cert_file"):
            del os.environ[k]  # loopback only, never through a proxy; the lab root only
    d = os.path.abspath(args.dir)
    try:
        with open(os.path.join(d, "lab.json")) as f:
            lab = json.load(f)
    except OSError as e:
        sys.exit(f"autodiscover_lab oracle: no lab in {d}: {e}")

    def emit(url, error, tried=(), code=0):
        print(json.dumps({"ews_url": url, "error": error, "tried": list(tried)}), flush=True)
        sys.stderr.flush()
        os._exit(code)  # exchangelib's threads and pools (and a silent peer) need no goodbye

    err = import_exchangelib(d)
    if err:
        emit(None, err, code=2)
    import logging
    import dns.exception
    import dns.resolver
    import requests.adapters
    import exchangelib
    import exchangelib.autodiscover.cache as adcache
    import exchangelib.autodiscover.discovery as discovery
    import exchangelib.protocol

    logging.basicConfig(level=logging.DEBUG if args.v else logging.CRITICAL, stream=sys.stderr)
    dns_host, _, dns_port = lab["dns"].rpartition(":")
    root_ca = lab["root"]

    # 1. exchangelib's own resolver (A checks of every URL's host, the SRV lookup): the lab's DNS only
    discovery.Autodiscovery.DNS_RESOLVER_KWARGS = {"configure": False}
    discovery.Autodiscovery.DNS_RESOLVER_ATTRS = {"nameservers": [dns_host], "port": int(dns_port), "timeout": 4}
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns_host]
    resolver.port = int(dns_port)
    resolver.timeout = 4

    # 2. connections: *.adlab.test through the same DNS; loopback literals as they are; nothing else
    real_getaddrinfo = socket.getaddrinfo

    def lab_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        h = (host.decode() if isinstance(host, bytes) else str(host or "")).rstrip(".").lower()
        if h == ZONE or h.endswith("." + ZONE):
            if family not in (0, socket.AF_INET, socket.AF_UNSPEC):
                raise socket.gaierror(socket.EAI_FAMILY, "the lab has IPv4 only")
            try:
                answer = resolver.resolve(h + ".", "A", lifetime=5)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            p = int(port) if isinstance(port, int) or (isinstance(port, str) and port.isdigit()) else \
                socket.getservbyname(port)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (rr.address, p)) for rr in answer]
        try:
            if ipaddress.ip_address(h.strip("[]")).is_loopback:
                return real_getaddrinfo(host, port, family, type, proto, flags)
        except ValueError:
            pass
        raise socket.gaierror(socket.EAI_NONAME, f"oracle: {h!r} is not a lab name (loopback only)")

    socket.getaddrinfo = lab_getaddrinfo

    # 3. TLS: verified against the lab root and nothing else
    class LabCAAdapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, verify, cert):
            super().cert_verify(conn=conn, url=url, verify=root_ca, cert=cert)

        def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
            return super().get_connection_with_tls_context(request=request, verify=root_ca, proxies=proxies, cert=cert)

    exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS = LabCAAdapter

    # 4. a private autodiscover cache (exchangelib's default is one shelve file in /tmp shared by
    # every process of the user: a result from an earlier lab would be reused)
    cache_dir = tempfile.mkdtemp(prefix="oracle-", dir=os.path.join(d, "tmp", "oracle"))
    cache_file = adcache.Path(cache_dir, "autodiscover.cache")
    adcache.AutodiscoverCache._storage_file = property(lambda self: cache_file)

    # 5. the URLs exchangelib tries, in order
    tried = []
    real_attempt = discovery.Autodiscovery._attempt_response
    real_unauth = discovery.Autodiscovery._get_unauthenticated_response

    def attempt(self, url):
        tried.append(f"POST {url}")
        return real_attempt(self, url)

    def unauth(self, url, method="post"):
        tried.append(f"{method.upper()} {url} (unauthenticated)")
        return real_unauth(self, url, method=method)

    discovery.Autodiscovery._attempt_response = attempt
    discovery.Autodiscovery._get_unauthenticated_response = unauth

    creds = None if args.no_auth else exchangelib.Credentials(username=lab["user"], password=lab["password"])
    result = {}

    def work():
        try:
            ad, _ = discovery.Autodiscovery(email=args.address, credentials=creds).discover()
            result["ews_url"] = ad.ews_url
            result["error"] = None
        except Exception as e:  # everything exchangelib raises is an answer here
            result["ews_url"] = None
            result["error"] = short(f"{type(e).__name__}: {e}")

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(args.timeout)
    shutil.rmtree(cache_dir, ignore_errors=True)
    if t.is_alive():
        emit(None, f"timeout: no answer from exchangelib after {args.timeout:g} s", tried)
    emit(result.get("ews_url"), result.get("error"), tried)


def main():
    # Started by Foundation's Process, which may leave SIGTERM blocked: unblock it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    if len(sys.argv) > 1 and sys.argv[1] == "oracle":
        return run_oracle(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--dns-port", type=int, required=True)
    ap.add_argument("--responder-port", type=int, required=True)
    ap.add_argument("--password", default=DEFAULT_PASSWORD)
    ap.add_argument("--subnet", default="127.0.20", help="the names' addresses are SUBNET.10 and up (default 127.0.20)")
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="stop when stdin reaches EOF (the test process is gone)")
    run_lab(ap.parse_args())


if __name__ == "__main__":
    main()
