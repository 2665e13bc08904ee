#!/usr/bin/env python3
"""Microsoft 365 and Google Workspace on loopback, for the prober's cloud-connector checks
(`oauth_token`, `mailbox_api`, `exo_ews`): an Entra ID-like authorization server (OIDC discovery,
JWKS, client-credentials grant with client_secret or a certificate's private_key_jwt assertion),
Microsoft Graph (GET inbox), EWS on Exchange Online (GetFolder with ExchangeImpersonation), Google's
token endpoint (RFC 7523 JWT-bearer grant, domain-wide delegation) and the Gmail API (GET profile).
Every JWT is verified and signed with Authlib's JOSE implementation (`authlib.jose`).

usage: cloud_lab.py --dir D --port P [--exit-on-stdin-eof]
       cloud_lab.py oracle --dir D CASE

Lab: builds everything in D (the names the lab owns are rebuilt each start), serves HTTPS on
127.0.0.1:P only (one listener for every name; the route is picked by the Host header), writes
D/lab.json, prints one line `ready P` on stdout (flushed) once P accepts connections and stays in
the foreground. SIGTERM/SIGINT (or EOF on stdin with --exit-on-stdin-eof) exit 0. Exits 1 with a
message if P is taken. Python 3.11 + Authlib (1.9), cryptography; the oracle also needs msal,
google-auth and requests.

Hosts (all 127.0.0.1:P, one certificate from the lab CA D/ca.pem with every name + IP 127.0.0.1):
  login.cloud.test   GET  /{tenant}/v2.0/.well-known/openid-configuration   (tenant = name or GUID)
                     GET  /{GUID}/discovery/v2.0/keys                       JWKS (lab signing key)
                     POST /{tenant}/oauth2/v2.0/token                       client_credentials
  graph.cloud.test   GET  /v1.0/users/{addr}/mailFolders/inbox
  outlook.cloud.test POST /EWS/Exchange.asmx                                 SOAP 1.1 GetFolder
  oauth2.cloud.test  POST /token                                             RFC 7523 jwt-bearer
                     POST /hang                                              never answers
  gmail.cloud.test   GET  /gmail/v1/users/{addr}/profile

Tenants: contoso.test (the directory), hang.test (token endpoint accepts and never answers, until the
client closes or 120 s), html.test (token endpoint: 502 text/html); any other: AADSTS90002.
Resources: https://graph.cloud.test:P and https://outlook.cloud.test:P (scope = RESOURCE/.default).

D/lab.json: {"port", "ca", "hosts", "tenants", "cases": {CASE: {...}}, "secrets": [...]} (see
CLOUD_LAB.md). D/requests.log: one JSON line per request served: {"time", "host", "method", "path",
"headers", "form", "body", "assertion": {"header", "claims"}, "status"} ("status" null when the lab
never answered: the hang endpoints log as soon as the request is read).

Oracle: `oracle --dir D CASE` runs msal (Microsoft cases) or google-auth (Google cases) against
the running lab, with *.cloud.test resolved to 127.0.0.1 (any other name refused) and D/ca.pem as the
trust store, and prints one JSON line: {"token": "ok", "expires_in": N, "roles": [...], "graph":
"STATUS [CODE]", "ews": "STATUS [CODE]"} / {"token": "ok", "expires_in": N, "gmail": "STATUS [REASON]"}
or {"token": "error", "error": E, "error_codes": [...]} or {"token": "error", "error": "exception",
"message": M}. Never prints a token or a secret.
"""

import argparse
import base64
import datetime
import functools
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
import warnings
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import authlib.deprecate  # noqa: E402  (sets an "always" filter for its warning class at import)
warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")  # Authlib 1.9: moving to joserfc
from authlib.jose import JsonWebKey, JsonWebToken  # noqa: E402
from authlib.jose.errors import (BadSignatureError, DecodeError, ExpiredTokenError, InvalidClaimError,  # noqa: E402
                                 InvalidTokenError, JoseError, MissingClaimError)
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

DOMAIN = "cloud.test"
HOSTS = {k: f"{k}.{DOMAIN}" for k in ("login", "graph", "outlook", "oauth2", "gmail")}
CONTOSO = ("contoso.test", "6babcaad-604b-40ac-a9d7-9fd97c0b779f")
HANG = ("hang.test", "0b3b8a5c-6c1e-4d5e-9a53-3c2f6f0e1a11")
HTML = ("html.test", "4f2d8e07-1a9b-4c3e-8e6f-5d7a2b9c0e22")
TENANTS = {name: guid for name, guid in (CONTOSO, HANG, HTML)}
GRAPH_MAIL_ROLES = {"Mail.Read", "Mail.ReadBasic", "Mail.ReadWrite", "Mail.ReadBasic.All"}
EWS_ROLE = "full_access_as_app"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GOOGLE_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GMAIL_SCOPE = "https://mail.google.com/"
# what Google's token endpoint takes as the assertion's aud besides the token_uri itself (google-auth 2.x always
# sends https://oauth2.googleapis.com/token, whatever the key file's token_uri says)
GOOGLE_AUDIENCES = ("https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token",
                    "https://accounts.google.com/o/oauth2/token")
GMAIL_READ_SCOPES = {GMAIL_SCOPE, "https://www.googleapis.com/auth/gmail.readonly",
                     "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.metadata",
                     "https://www.googleapis.com/auth/gmail.compose"}
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
HOLD_S = 120
LEEWAY = 300          # Entra's and Google's clock skew allowance (5 min)
MAX_ASSERTION_S = 3600

# Mailboxes (Microsoft: contoso.test; Google: example.test)
M365_MAILBOXES = {"probe.mailbox@contoso.test": "ok", "disabled.mailbox@contoso.test": "disabled",
                  "busy.mailbox@contoso.test": "busy"}
GOOGLE_USERS = {"probe.mailbox@example.test": "ok", "disabled.mailbox@example.test": "disabled",
                "busy.mailbox@example.test": "busy"}

# Entra app registrations in contoso.test. credentials: secret = (value name, expired?) ; certs by case.
APPS = {
    "main":      dict(id="3f8a6c1e-2b7d-4e59-9a10-6d4c2e8b7f01", name="ewsprobe-main"),
    "expired":   dict(id="9c2e4b7a-1d3f-4a68-8e25-0b7c6d5f4e02", name="ewsprobe-expired-secret"),
    "disabled":  dict(id="5e1d7c3b-8a2f-4b96-a4e0-2c9f8b6d1a03", name="ewsprobe-disabled", disabled=True),
    "readonly":  dict(id="7b4f2a9e-6c1d-4e83-b5a7-1f0e3d2c8b04", name="ewsprobe-user-read",
                      graph=["User.Read.All"], exchange=[EWS_ROLE]),
    "noews":     dict(id="1a9e5d3c-7b2f-4c64-8d19-3e6b0a4f2c05", name="ewsprobe-no-ews", exchange=[]),
    "ewsoff":    dict(id="8d3c1b5a-4e7f-4a92-9c36-5b2e1f0d7a06", name="ewsprobe-ews-disabled",
                      ews_policy="EWS is disabled for this user or tenant"),
    "ewsblock":  dict(id="2c7b9e4d-3a1f-4d58-b6e2-8f4a0c1d5b07", name="ewsprobe-ews-blocked",
                      ews_policy="EWS is blocked by policy for this user or tenant"),
    "reflect":   dict(id="6f0a8d2c-5b3e-4f17-a9c4-7d1e2b6a3c08", name="ewsprobe-reflect", reflect="secret"),
    "cert":      dict(id="4b6d0f8a-9c2e-4a35-8b71-2e5f3a7c9d09", name="ewsprobe-cert"),
    "expiring":  dict(id="0e5c3a1f-8d6b-4c29-a7f3-9b1d4e2c6a10", name="ewsprobe-expiring-cert"),
    "expcert":   dict(id="d7a1c9e3-2f4b-4e86-9d05-6a3b8c1e0f11", name="ewsprobe-expired-cert"),
    "reflcert":  dict(id="b3e9f1d7-6a2c-4b58-8e4a-0d7c5f9a1b12", name="ewsprobe-reflect-cert", reflect="cert"),
}
UNKNOWN_CLIENT = "e8f2a4c6-0b1d-4f3e-9a57-c6d8e0f2a413"

# Cases. m365: app, cred ("secret"/"wrong-secret"/"expired-secret"/"cert"/"unregistered-cert"/...),
# tenant, mailbox. google: sa (service account key name), sa_file, mailbox.
CASES = {
    "good-secret":        dict(kind="m365", app="main", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="secret; graph [Mail.ReadWrite], exchange [full_access_as_app]; everything works"),
    "good-cert":          dict(kind="m365", app="cert", cred="cert", mailbox="probe.mailbox@contoso.test",
                               note="certificate (1 year), registered; same roles; everything works"),
    "unknown-tenant":     dict(kind="m365", app="main", cred="secret", tenant="nowhere.test",
                               mailbox="probe.mailbox@contoso.test", note="discovery 400 invalid_tenant AADSTS90002"),
    "unknown-client":     dict(kind="m365", app=None, cred="random-secret", mailbox="probe.mailbox@contoso.test",
                               note="client id not registered: 400 unauthorized_client AADSTS700016"),
    "wrong-secret":       dict(kind="m365", app="main", cred="wrong-secret", mailbox="probe.mailbox@contoso.test",
                               note="registered client, wrong secret: 401 invalid_client AADSTS7000215"),
    "expired-secret":     dict(kind="m365", app="expired", cred="expired-secret", mailbox="probe.mailbox@contoso.test",
                               note="the app's only secret expired: 401 invalid_client AADSTS7000222"),
    "unregistered-cert":  dict(kind="m365", app="cert", cred="unregistered-cert", mailbox="probe.mailbox@contoso.test",
                               note="certificate not registered on the app: 401 invalid_client AADSTS700027"),
    "expiring-cert":      dict(kind="m365", app="expiring", cred="cert", days=(-1, 10), mailbox="probe.mailbox@contoso.test",
                               note="registered certificate expiring in 10 days; tokens issued normally"),
    "expired-cert":       dict(kind="m365", app="expcert", cred="cert", days=(-40, -2), mailbox="probe.mailbox@contoso.test",
                               note="registered certificate expired 2 days ago: 401 invalid_client AADSTS700027"),
    "disabled-app":       dict(kind="m365", app="disabled", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="app disabled: 400 unauthorized_client AADSTS7000112"),
    "missing-role":       dict(kind="m365", app="readonly", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="graph roles [User.Read.All] only: Graph 403 ErrorAccessDenied"),
    "ews-no-full-access": dict(kind="m365", app="noews", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="exchange token has no roles claim: EWS 403 without X-EWS-Policy-Reason"),
    "mailbox-not-found":  dict(kind="m365", app="main", cred="secret", mailbox="nobody@contoso.test",
                               note="Graph 404 ErrorInvalidUser; EWS 500 ErrorNonExistentMailbox"),
    "mailbox-disabled":   dict(kind="m365", app="main", cred="secret", mailbox="disabled.mailbox@contoso.test",
                               note="Graph 404 MailboxNotEnabledForRESTAPI; EWS 500 ErrorNonExistentMailbox"),
    "throttled":          dict(kind="m365", app="main", cred="secret", mailbox="busy.mailbox@contoso.test",
                               note="Graph 429 Retry-After 37; EWS 500 ErrorServerBusy BackOffMilliseconds 37000"),
    "ews-disabled":       dict(kind="m365", app="ewsoff", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="EWS 403 X-EWS-Policy-Reason: EWS is disabled for this user or tenant"),
    "ews-blocked":        dict(kind="m365", app="ewsblock", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="EWS 403 X-EWS-Policy-Reason: EWS is blocked by policy for this user or tenant"),
    "hang-token":         dict(kind="m365", app="main", cred="secret", tenant="hang.test", mailbox="probe.mailbox@contoso.test",
                               note="discovery works; the token endpoint never answers (held until the client closes, max 120 s)"),
    "html-token":         dict(kind="m365", app="main", cred="secret", tenant="html.test", mailbox="probe.mailbox@contoso.test",
                               note="discovery works; the token endpoint answers 502 text/html"),
    "reflect":            dict(kind="m365", app="reflect", cred="secret", mailbox="probe.mailbox@contoso.test",
                               note="token endpoint: 401 invalid_client AADSTS7000215 quoting the posted client_secret"),
    "reflect-cert":       dict(kind="m365", app="reflcert", cred="cert", mailbox="probe.mailbox@contoso.test",
                               note="token issued, but its answer echoes the client_assertion (X-Debug-Assertion header, "
                                    "JSON field debug); Graph 403 quotes the Authorization header; EWS 500 fault quotes the token"),
    "google-good":        dict(kind="google", sa="google-good", mailbox="probe.mailbox@example.test",
                               note="delegated for https://mail.google.com/; Gmail 200"),
    "google-unauthorized": dict(kind="google", sa="google-unauthorized", mailbox="probe.mailbox@example.test",
                                note="service account not delegated: 401 unauthorized_client"),
    "google-bad-key":     dict(kind="google", sa="google-bad-key", mailbox="probe.mailbox@example.test",
                               note="google-good's client_email and private_key_id, another private key: 400 invalid_grant "
                                    "Invalid JWT Signature."),
    "google-unknown-user": dict(kind="google", sa="google-good", mailbox="nobody@example.test",
                                note="sub unknown: 400 invalid_grant Invalid email or User ID"),
    "google-mail-disabled": dict(kind="google", sa="google-good", mailbox="disabled.mailbox@example.test",
                                 note="token issued; Gmail 400 failedPrecondition Mail service not enabled"),
    "google-throttled":   dict(kind="google", sa="google-good", mailbox="busy.mailbox@example.test",
                               note="token issued; Gmail 429 Retry-After 41 rateLimitExceeded"),
    "google-hang":        dict(kind="google", sa="google-hang", mailbox="probe.mailbox@example.test",
                               note="its token_uri is https://oauth2.cloud.test:P/hang, which never answers"),
}
# Google service accounts: name -> (delegated scopes or None, registered?)
SERVICE_ACCOUNTS = {
    "google-good": dict(client_id="104467382915623847501", delegated={GMAIL_SCOPE, *GMAIL_READ_SCOPES}),
    "google-unauthorized": dict(client_id="117730125566432190802", delegated=set()),
    "google-hang": dict(client_id="109283746501928374603", delegated={GMAIL_SCOPE}),
}
PROJECT = "ewsprobe-lab"

OWNED = ["ca.pem", "ca.key", "server.pem", "server.key", "signing.key", "jwks.json", "lab.json", "ready.json",
         "requests.log"]
OWNED += [f"{c}.{ext}" for c in CASES for ext in ("secret", "crt", "key", "json")]


def log(msg):
    print(f"cloud_lab: {msg}", file=sys.stderr, flush=True)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def write(path, data, mode=0o644):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_unverified(token):
    """(header, claims) of a compact JWS without verifying anything; (None, None) if unparsable."""
    try:
        h, p, _ = token.split(".")
        header, claims = json.loads(b64url_decode(h)), json.loads(b64url_decode(p))
        return (header, claims) if isinstance(header, dict) and isinstance(claims, dict) else (None, None)
    except (ValueError, AttributeError):
        return None, None


def pem_body(pem):
    """A PEM's base64 body, line-joined (what a leak of the key would contain)."""
    if isinstance(pem, bytes):
        pem = pem.decode()
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))


# ---------------------------------------------------------------- PKI

def new_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkcs8(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def self_signed(key, cn, not_before, not_after):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


def build_pki(d, port):
    """CA + server certificate, lab signing key, client certificates, service-account keys."""
    now = utcnow()
    # RSA 2048 keys are the slow part (~50-150 ms each): make them all at once
    n_keys = 1 + 5 + 4  # signing; cert clients; service accounts (good, unauthorized, hang, bad-key)
    with ThreadPoolExecutor(8) as ex:
        keys = list(ex.map(lambda _: new_rsa(), range(n_keys)))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cloud Lab CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    srv = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS["login"])]))
           .issuer_name(ca_name).public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS.values()]
                                                      + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, content_commitment=False,
                                        key_encipherment=False, data_encipherment=False, key_agreement=False,
                                        encipher_only=False, decipher_only=False), critical=True)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
           .sign(ca_key, hashes.SHA256()))
    write(os.path.join(d, "ca.pem"), cert_pem(ca))
    write(os.path.join(d, "ca.key"), pkcs8(ca_key), 0o600)
    write(os.path.join(d, "server.pem"), cert_pem(srv) + cert_pem(ca))
    write(os.path.join(d, "server.key"), pkcs8(srv_key), 0o600)

    signing = keys.pop()
    write(os.path.join(d, "signing.key"), pkcs8(signing), 0o600)
    return keys, signing, now


class World:
    """Everything the servers need to know, built at start."""

    def __init__(self, d, port):
        self.d, self.port = d, port
        self.authority = f"https://{HOSTS['login']}:{port}"
        self.graph = f"https://{HOSTS['graph']}:{port}"
        self.exchange = f"https://{HOSTS['outlook']}:{port}"
        self.google_token_uri = f"https://{HOSTS['oauth2']}:{port}/token"
        self.gmail = f"https://{HOSTS['gmail']}:{port}"
        self.secrets = []
        self.lock = threading.Lock()
        self.seen_jti = set()
        self.google_tokens = {}  # opaque token -> {sub, scopes, exp, sa}
        keys, signing, now = build_pki(d, port)
        self.now = now

        # token signing key (Authlib JWK), published as JWKS
        self.kid = b64url(hashlib.sha1(signing.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest())
        self.sign_jwk = JsonWebKey.import_key(pkcs8(signing).decode(), {"kty": "RSA", "kid": self.kid})
        pub = self.sign_jwk.as_dict(is_private=False)
        pub.update({"kid": self.kid, "use": "sig", "x5t": self.kid, "alg": "RS256"})
        self.verify_jwk = JsonWebKey.import_key(pub)
        self.jwks = {"keys": [pub]}
        write(os.path.join(d, "jwks.json"), json.dumps(self.jwks, indent=1) + "\n")

        # Entra apps: roles per resource, secrets, certificates
        self.apps = {}
        for key, a in APPS.items():
            app = {"key": key, "id": a["id"], "name": a["name"], "disabled": a.get("disabled", False),
                   "roles": {self.graph: a.get("graph", ["Mail.ReadWrite"]),
                             self.exchange: a.get("exchange", [EWS_ROLE])},
                   "ews_policy": a.get("ews_policy"), "reflect": a.get("reflect"),
                   "secrets": [], "certs": {}, "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, "oid:" + a["id"]))}
            self.apps[a["id"]] = app
            if key in ("main", "disabled", "readonly", "noews", "ewsoff", "ewsblock", "reflect"):
                app["secrets"].append({"value": self.new_secret(), "expires": now + datetime.timedelta(days=365)})
            if key == "expired":
                app["secrets"].append({"value": self.new_secret(), "expires": now - datetime.timedelta(days=3)})
        self.app_by_key = {a["key"]: a for a in self.apps.values()}

        self.cases = {}
        cert_keys = iter(keys[:5])
        sa_keys = iter(keys[5:])
        for name, c in CASES.items():
            if c["kind"] == "m365":
                self.cases[name] = self.m365_case(name, c, cert_keys, now)
        self.service_accounts = {}  # private_key_id -> {name, email, public jwk, delegated}
        sa_json = {}
        for sa_name in ("google-good", "google-unauthorized", "google-hang"):
            sa_json[sa_name] = self.service_account(sa_name, next(sa_keys))
        bad = dict(sa_json["google-good"])
        bad["private_key"] = pkcs8(next(sa_keys)).decode()
        self.secrets.append(pem_body(bad["private_key"]))
        sa_json["google-bad-key"] = bad
        sa_json["google-hang"]["token_uri"] = f"https://{HOSTS['oauth2']}:{port}/hang"
        for sa_name, info in sa_json.items():
            write(os.path.join(d, sa_name + ".json"), json.dumps(info, indent=2) + "\n", 0o600)
        for name, c in CASES.items():
            if c["kind"] == "google":
                self.cases[name] = {"kind": "google", "service_account_file": os.path.join(d, c["sa"] + ".json"),
                                    "client_email": sa_json[c["sa"]]["client_email"], "mailbox": c["mailbox"],
                                    "scopes": [GMAIL_SCOPE], "token_uri": sa_json[c["sa"]]["token_uri"],
                                    "api": self.gmail, "note": c["note"]}

    def new_secret(self):
        s = "lab~" + secrets.token_urlsafe(30)
        self.secrets.append(s)
        return s

    def m365_case(self, name, c, cert_keys, now):
        tenant = c.get("tenant", CONTOSO[0])
        case = {"kind": "m365", "tenant": tenant, "tenant_id": TENANTS.get(tenant),
                "client_id": self.app_by_key[c["app"]]["id"] if c["app"] else UNKNOWN_CLIENT,
                "mailbox": c["mailbox"], "authority": self.authority, "graph": self.graph, "exchange": self.exchange,
                "graph_scope": self.graph + "/.default", "exchange_scope": self.exchange + "/.default"}
        app = self.app_by_key.get(c["app"])
        cred = c["cred"]
        if cred in ("secret", "expired-secret"):
            secret = app["secrets"][0]["value"]
        elif cred in ("wrong-secret", "random-secret"):
            secret = self.new_secret()
        else:
            secret = None
        if secret is not None:
            path = os.path.join(self.d, name + ".secret")
            write(path, secret + "\n", 0o600)
            case["secret_file"] = path
        else:
            key = next(cert_keys)
            nb_days, na_days = c.get("days", (-1, 365))
            cert = self_signed(key, f"ewsprobe {name}", now + datetime.timedelta(days=nb_days),
                               now + datetime.timedelta(days=na_days))
            crt, kf = os.path.join(self.d, name + ".crt"), os.path.join(self.d, name + ".key")
            write(crt, cert_pem(cert), 0o600)
            write(kf, pkcs8(key), 0o600)
            self.secrets.append(pem_body(pkcs8(key)))
            der = cert.public_bytes(serialization.Encoding.DER)
            entry = {"cert": cert, "not_after": cert.not_valid_after_utc, "not_before": cert.not_valid_before_utc,
                     "jwk": JsonWebKey.import_key(cert_pem(cert).decode(), {"kty": "RSA"}),
                     "sha1": hashlib.sha1(der).hexdigest().upper(), "case": name}
            if cred == "cert":
                app["certs"][b64url(hashlib.sha256(der).digest())] = entry
                app["certs"][b64url(hashlib.sha1(der).digest())] = entry
            case.update({"certificate_file": crt, "key_file": kf,
                         "not_before": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
                         "not_after": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
                         "thumbprint_sha1": entry["sha1"],
                         "x5t": b64url(hashlib.sha1(der).digest()), "x5t#S256": b64url(hashlib.sha256(der).digest())})
        case["note"] = c["note"]
        return case

    def service_account(self, name, key):
        sa = SERVICE_ACCOUNTS[name]
        key_id = hashlib.sha1(name.encode() + os.urandom(8)).hexdigest()
        email = f"{name}@{PROJECT}.iam.gserviceaccount.com"
        pem = pkcs8(key).decode()
        self.secrets.append(pem_body(pem))
        pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.service_accounts[key_id] = {"name": name, "email": email, "delegated": sa["delegated"],
                                         "jwk": JsonWebKey.import_key(pub.decode(), {"kty": "RSA"})}
        return {"type": "service_account", "project_id": PROJECT, "private_key_id": key_id, "private_key": pem,
                "client_email": email, "client_id": sa["client_id"],
                "auth_uri": f"https://{HOSTS['oauth2']}:{self.port}/o/oauth2/auth",
                "token_uri": self.google_token_uri,
                "auth_provider_x509_cert_url": f"https://{HOSTS['oauth2']}:{self.port}/oauth2/v1/certs",
                "client_x509_cert_url": f"https://{HOSTS['oauth2']}:{self.port}/robot/v1/metadata/x509/"
                                        + urllib.parse.quote(email),
                "universe_domain": "googleapis.com"}

    def lab_json(self):
        return {"port": self.port, "ca": os.path.join(self.d, "ca.pem"), "hosts": HOSTS,
                "tenants": {name: guid for name, guid in TENANTS.items()},
                "authority": self.authority, "graph": self.graph, "exchange": self.exchange,
                "google_token_uri": self.google_token_uri, "gmail": self.gmail,
                "jwks": os.path.join(self.d, "jwks.json"), "requests_log": os.path.join(self.d, "requests.log"),
                "cases": self.cases, "secrets": self.secrets}

    # ------------------------------------------------------------ tokens

    def issue_ms_token(self, app, resource, tenant_guid, acr):
        now = int(time.time())
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{tenant_guid}/", "iat": now, "nbf": now,
                  "exp": now + 3599, "aio": b64url(os.urandom(24)), "app_displayname": app["name"],
                  "appid": app["id"], "appidacr": acr, "idp": f"https://sts.windows.net/{tenant_guid}/",
                  "idtyp": "app", "oid": app["oid"], "rh": "0." + b64url(os.urandom(18)) + ".", "sub": app["oid"],
                  "tid": tenant_guid, "uti": b64url(os.urandom(16)), "ver": "1.0"}
        roles = app["roles"].get(resource) or []
        if roles:
            claims["roles"] = roles
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        return JsonWebToken(["RS256"]).encode(header, claims, self.sign_jwk).decode()

    def verify_ms_token(self, token, resource):
        """(claims, None) or (None, (kind, text)); kind: missing|signature|expired|audience|malformed."""
        if not token:
            return None, ("missing", "Access token is empty.")
        try:
            claims = JsonWebToken(["RS256"]).decode(token, self.verify_jwk, claims_options={
                "aud": {"essential": True, "value": resource}, "exp": {"essential": True},
                "iss": {"essential": True, "values": [f"https://sts.windows.net/{g}/" for g in TENANTS.values()]}})
            claims.validate(leeway=LEEWAY)
            return claims, None
        except ExpiredTokenError:
            return None, ("expired", "Lifetime validation failed, the token is expired.")
        except InvalidClaimError as e:
            if e.claim_name == "aud":
                return None, ("audience", "Access token validation failure. Invalid audience.")
            return None, ("malformed", f"Access token validation failure. Invalid {e.claim_name}.")
        except BadSignatureError:
            return None, ("signature", "Access token validation failure. Invalid signature.")
        except (JoseError, ValueError, TypeError):
            return None, ("malformed", "IDX14100: JWT is not well formed, there are no dots (.).")


# ---------------------------------------------------------------- HTTP

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # a fleet of probers connects at once: the default backlog (5) would drop their SYNs
    request_queue_size = 1024
    context = None

    def finish_request(self, request, client_address):
        # the TLS handshake runs in the connection's own thread: a client that stalls it blocks nobody
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        tls.settimeout(HOLD_S + 10)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloud-lab"
    sys_version = ""
    world = None
    logfile = None
    loglock = threading.Lock()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *a):
        pass

    # ------------------------------------------------------------ plumbing

    def read_body(self, limit=1 << 20):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > limit:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise ValueError(f"body of {n} bytes")
        return self.rfile.read(n) if n else b""

    def handle_one_request(self):
        self.rec = None
        super().handle_one_request()

    def start(self):
        raw = self.read_body()
        self.raw = raw
        self.host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        headers = {}
        for k, v in self.headers.items():
            headers[k] = headers[k] + ", " + v if k in headers else v
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = {}
        if ctype == "application/x-www-form-urlencoded":
            for k, vs in urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items():
                form[k] = vs[0] if len(vs) == 1 else vs
        self.form = form
        self.rec = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                    "host": self.headers.get("Host"), "method": self.command, "path": self.path,
                    "headers": headers, "form": form}
        if raw and not form:
            self.rec["body"] = raw[:65536].decode("utf-8", "replace")
        a = form.get("client_assertion") if self.host == HOSTS["login"] else form.get("assertion")
        if isinstance(a, str):
            header, claims = jwt_unverified(a)
            self.rec["assertion"] = {"header": header, "claims": claims}

    def record(self, status):
        if self.rec is None:
            return
        self.rec["status"] = status
        line = json.dumps(self.rec) + "\n"
        self.rec = None
        with self.loglock, open(self.logfile, "a") as f:
            f.write(line)

    def reply(self, status, body=b"", ctype="application/json; charset=utf-8", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"))  # Microsoft: compact; Google's answers come pre-indented
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype) if ctype else None
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status)

    def hold(self):
        """Never answer: read and drop until the client closes (or HOLD_S)."""
        self.record(None)
        self.close_connection = True
        deadline = time.time() + HOLD_S
        self.connection.settimeout(1)
        while time.time() < deadline:
            try:
                if not self.connection.recv(65536):
                    return
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return

    def dispatch(self):
        try:
            self.start()
        except (ValueError, OSError) as e:
            self.close_connection = True
            return self.reply(400, f"bad request: {e}\n", "text/plain")
        route = {HOSTS["login"]: self.login, HOSTS["graph"]: self.graph_api, HOSTS["outlook"]: self.ews,
                 HOSTS["oauth2"]: self.google_token, HOSTS["gmail"]: self.gmail_api}.get(self.host)
        if route is None:
            return self.reply(404, f"cloud lab: unknown host {self.host!r}\n", "text/plain")
        route()

    def do_GET(self):
        try:
            self.dispatch()
        except (OSError, ssl.SSLError):
            self.close_connection = True

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_GET

    @property
    def w(self):
        return self.world

    # ------------------------------------------------------------ Entra ID

    def tenant(self, seg):
        seg = urllib.parse.unquote(seg).lower()
        for name, guid in TENANTS.items():
            if seg in (name, guid):
                return name, guid
        return None, None

    def entra_error(self, status, error, code, text):
        trace = str(uuid.uuid4())
        corr = self.headers.get("client-request-id") or ""
        if not re.fullmatch(r"[0-9a-fA-F-]{36}", corr):
            corr = str(uuid.uuid4())
        ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        body = {"error": error,
                "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}",
                "error_codes": [code], "timestamp": ts, "trace_id": trace, "correlation_id": corr,
                "error_uri": f"{self.w.authority}/error?code={code}"}
        return self.reply(status, body, headers=self.entra_headers(trace))

    def entra_headers(self, trace=None):
        return [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                ("x-ms-request-id", trace or str(uuid.uuid4())), ("x-ms-ests-server", "2.1.lab - cloud_lab"),
                ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
                ("X-Content-Type-Options", "nosniff")]

    def login(self):
        path = urllib.parse.urlsplit(self.path).path
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and self.command == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self.discovery(parts[0])
        if len(parts) == 4 and self.command == "GET" and parts[1:] == ["discovery", "v2.0", "keys"]:
            name, guid = self.tenant(parts[0])
            if not name:
                return self.entra_error(400, "invalid_tenant", 90002, self.tenant_not_found(parts[0]))
            return self.reply(200, self.w.jwks, headers=self.entra_headers())
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            if self.command != "POST":
                return self.entra_error(400, "invalid_request", 900561,
                                        "The endpoint only accepts POST requests. Received a GET request.")
            return self.token(parts[0])
        return self.reply(404, "<html><body>404 Not Found</body></html>", "text/html; charset=utf-8")

    def tenant_not_found(self, seg):
        return (f"Tenant '{urllib.parse.unquote(seg)}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription administrator, this may happen "
                "if there are no active subscriptions for the tenant.")

    def discovery(self, seg):
        name, guid = self.tenant(seg)
        if not name:
            return self.entra_error(400, "invalid_tenant", 90002, self.tenant_not_found(seg))
        a = self.w.authority
        doc = {"token_endpoint": f"{a}/{guid}/oauth2/v2.0/token",
               "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
               "jwks_uri": f"{a}/{guid}/discovery/v2.0/keys",
               "response_modes_supported": ["query", "fragment", "form_post"],
               "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
               "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
               "scopes_supported": ["openid", "profile", "email", "offline_access"],
               "issuer": f"{a}/{guid}/v2.0", "request_uri_parameter_supported": False,
               "userinfo_endpoint": f"{self.w.graph}/oidc/userinfo",
               "authorization_endpoint": f"{a}/{guid}/oauth2/v2.0/authorize",
               "device_authorization_endpoint": f"{a}/{guid}/oauth2/v2.0/devicecode",
               "http_logout_supported": True, "frontchannel_logout_supported": True,
               "end_session_endpoint": f"{a}/{guid}/oauth2/v2.0/logout",
               "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                                    "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                                    "name", "tid", "ver", "at_hash", "c_hash", "email"],
               "kerberos_endpoint": f"{a}/{guid}/kerberos", "tenant_region_scope": "EU",
               "cloud_instance_name": DOMAIN, "cloud_graph_host_name": HOSTS["graph"],
               "msgraph_host": f"{HOSTS['graph']}:{self.w.port}", "rbac_url": f"https://rbac.{DOMAIN}"}
        return self.reply(200, doc, headers=self.entra_headers())

    def token(self, seg):
        name, guid = self.tenant(seg)
        if not name:
            return self.entra_error(400, "invalid_tenant", 90002, self.tenant_not_found(seg))
        if name == HANG[0]:
            return self.hold()
        if name == HTML[0]:
            return self.reply(502, "<!DOCTYPE html>\r\n<html><head><title>502 - Web server received an invalid response"
                                   "</title></head>\r\n<body><h1>502 - Web server received an invalid response while acting "
                                   "as a gateway or proxy server.</h1>\r\n<p>There is a problem with the page you are "
                                   "looking for, and it cannot be displayed.</p></body></html>\r\n",
                              "text/html; charset=utf-8")
        f = self.form
        if f.get("grant_type") != "client_credentials":
            if not f.get("grant_type"):
                return self.entra_error(400, "invalid_request", 900144,
                                        "The request body must contain the following parameter: 'grant_type'.")
            return self.entra_error(400, "unsupported_grant_type", 70003,
                                    "The app requested an unsupported grant type "
                                    f"'{f.get('grant_type')}'.")
        client_id, basic_secret = f.get("client_id"), None
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                u, _, p = base64.b64decode(auth[6:].strip()).decode().partition(":")
                client_id, basic_secret = client_id or urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(p)
            except ValueError:
                pass
        if not isinstance(client_id, str) or not client_id:
            return self.entra_error(400, "invalid_request", 900144,
                                    "The request body must contain the following parameter: 'client_id'.")
        app = self.w.apps.get(client_id.lower())
        if app is None:
            return self.entra_error(400, "unauthorized_client", 700016,
                                    f"Application with identifier '{client_id}' was not found in the directory "
                                    f"'{name.split('.')[0]}'. This can happen if the application has not been installed "
                                    "by the administrator of the tenant or consented to by any user in the tenant. You "
                                    "may have sent your authentication request to the wrong tenant.")
        if app["disabled"]:
            return self.entra_error(400, "unauthorized_client", 7000112,
                                    f"Application '{app['id']}'({app['name']}) is disabled.")
        secret = f.get("client_secret") if f.get("client_secret") is not None else basic_secret
        assertion = f.get("client_assertion")
        if app["reflect"] == "secret":
            return self.entra_error(401, "invalid_client", 7000215, f"Invalid client secret provided: '{secret}'")
        if secret is not None and assertion is not None:
            return self.entra_error(400, "invalid_request", 90023,
                                    "Only one client credential is allowed per request: client_secret or client_assertion.")
        if assertion is not None:
            if f.get("client_assertion_type") != ASSERTION_TYPE:
                return self.entra_error(400, "invalid_request", 7000216,
                                        "'client_assertion', 'client_secret' or 'request' is required for the "
                                        "'client_credentials' grant type.")
            err = self.check_assertion(app, assertion, guid, name)
            if err:
                return err
            acr = "2"
        elif secret is not None:
            live = [s for s in app["secrets"] if secrets.compare_digest(s["value"].encode(), str(secret).encode())]
            if not live:
                return self.entra_error(401, "invalid_client", 7000215,
                                        "Invalid client secret provided. Ensure the secret being sent in the request is "
                                        "the client secret value, not the client secret ID, for a secret added to app "
                                        f"'{app['id']}'.")
            if live[0]["expires"] < utcnow():
                return self.entra_error(401, "invalid_client", 7000222,
                                        f"The provided client secret keys for app '{app['id']}' are expired. Visit the "
                                        "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, "
                                        "or consider using certificate credentials for added security: "
                                        "https://aka.ms/certCreds.")
            acr = "1"
        else:
            return self.entra_error(401, "invalid_client", 7000218,
                                    "The request body must contain the following parameter: 'client_assertion' or "
                                    "'client_secret'.")
        scope = f.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            return self.entra_error(400, "invalid_request", 900144,
                                    "The request body must contain the following parameter: 'scope'.")
        scopes = scope.split()
        resource = None
        if len(scopes) == 1 and scopes[0].endswith("/.default"):
            resource = scopes[0][:-len("/.default")]
        if resource is None:
            return self.entra_error(400, "invalid_scope", 1002012,
                                    f"The provided value for scope {scope} is not valid. Client credential flows must "
                                    "have a scope value with /.default suffixed to the resource identifier "
                                    "(application ID URI).")
        if resource not in (self.w.graph, self.w.exchange):
            return self.entra_error(400, "invalid_resource", 500011,
                                    f"The resource principal named {resource} was not found in the tenant named "
                                    f"{name.split('.')[0]}. This can happen if the application has not been installed "
                                    "by the administrator of the tenant or consented to by any user in the tenant. You "
                                    "might have sent your authentication request to the wrong tenant.")
        body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": self.w.issue_ms_token(app, resource, guid, acr)}
        headers = self.entra_headers()
        if app["reflect"] == "cert":
            body["debug"] = {"client_assertion": assertion}
            headers.append(("X-Debug-Assertion", assertion or ""))
        return self.reply(200, body, headers=headers)

    def check_assertion(self, app, assertion, guid, name):
        header, unverified = jwt_unverified(assertion)
        if header is None:
            return self.entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        alg = header.get("alg")
        thumb = header.get("x5t#S256") or header.get("x5t")
        # base64url with or without "=" padding (msal 1.39 pads; RFC 7515 does not)
        entry = app["certs"].get(thumb.rstrip("=")) if isinstance(thumb, str) else None
        shown = entry["sha1"] if entry else self.thumb_hex(thumb)
        if alg not in ("RS256", "PS256"):
            return self.entra_error(401, "invalid_client", 700027,
                                    f"Client assertion failed signature validation. [Reason - The algorithm '{alg}' "
                                    "is not supported.]")
        if entry is None:
            return self.entra_error(401, "invalid_client", 700027,
                                    "The certificate with identifier used to sign the client assertion is not "
                                    f"registered on application. [Reason - The key was not found., Thumbprint of key "
                                    f"used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or "
                                    f"directly use MS Graph to see configured keys for app Id '{app['id']}'.]")
        now = utcnow()
        if entry["not_after"] < now:
            return self.entra_error(401, "invalid_client", 700027,
                                    "The certificate with identifier used to sign the client assertion is expired on "
                                    f"application. [Reason - The key used is expired., Thumbprint of key used by client: "
                                    f"'{shown}', Found key 'Start={entry['not_before']:%m/%d/%Y %H:%M:%S}, "
                                    f"End={entry['not_after']:%m/%d/%Y %H:%M:%S}', Please visit the Azure Portal, Graph "
                                    f"Explorer or directly use MS Graph to see configured keys for app Id '{app['id']}'.]")
        auds = [f"{self.w.authority}/{guid}/oauth2/v2.0/token", f"{self.w.authority}/{name}/oauth2/v2.0/token"]
        try:
            claims = JsonWebToken([alg]).decode(assertion, entry["jwk"], claims_options={
                "iss": {"essential": True, "value": app["id"]}, "sub": {"essential": True, "value": app["id"]},
                "aud": {"essential": True, "values": auds}, "exp": {"essential": True},
                "jti": {"essential": True}})
        except BadSignatureError:
            return self.entra_error(401, "invalid_client", 700027,
                                    "Client assertion failed signature validation. [Reason - The provided signature "
                                    f"value did not match the expected signature value., Thumbprint of key used by "
                                    f"client: '{shown}']")
        except (JoseError, ValueError, TypeError):
            return self.entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        try:
            claims.validate(leeway=LEEWAY)
            t0 = max(float(claims.get("nbf") or 0), float(claims.get("iat") or 0)) or time.time()
            if float(claims["exp"]) - t0 > MAX_ASSERTION_S + LEEWAY:
                raise ExpiredTokenError()
        except (ExpiredTokenError, InvalidTokenError):
            c = claims
            fmt = lambda v: datetime.datetime.fromtimestamp(float(v), datetime.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")  # noqa
            return self.entra_error(401, "invalid_client", 700024,
                                    f"Client assertion is not within its valid time range. Current time: "
                                    f"{now.isoformat().replace('+00:00', 'Z')}, assertion valid from "
                                    f"{fmt(c.get('nbf') or c.get('iat') or 0)}, expiry time of assertion "
                                    f"{fmt(c.get('exp') or 0)}. Review the documentation at "
                                    "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
        except MissingClaimError as e:
            return self.entra_error(400, "invalid_request", 50027,
                                    f"JWT token is invalid or malformed. [Reason - the '{e.claim_name}' claim is missing.]")
        except InvalidClaimError as e:
            if e.claim_name in ("iss", "sub"):
                return self.entra_error(401, "invalid_client", 700021,
                                        "Client assertion application identifier doesn't match 'client_id' parameter. "
                                        "Review the documentation at "
                                        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
            return self.entra_error(401, "invalid_client", 700027,
                                    "Client assertion failed signature validation. [Reason - The audience "
                                    f"'{claims.get('aud')}' is invalid; expected '{auds[0]}'.]")
        jti = str(claims["jti"])
        with self.w.lock:
            replay = jti in self.w.seen_jti
            self.w.seen_jti.add(jti)
        if replay:
            return self.entra_error(401, "invalid_client", 700027,
                                    f"Client assertion failed validation. [Reason - The jti '{jti}' of this client "
                                    "assertion was already used.]")
        return None

    @staticmethod
    def thumb_hex(t):
        try:
            return b64url_decode(t).hex().upper()
        except (ValueError, TypeError, AttributeError):
            return str(t)

    # ------------------------------------------------------------ Microsoft Graph

    def bearer(self):
        auth = self.headers.get("Authorization") or ""
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    def graph_error(self, status, code, message, headers=()):
        rid = str(uuid.uuid4())
        crid = self.headers.get("client-request-id") or rid
        body = {"error": {"code": code, "message": message, "innerError": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request-id": rid, "client-request-id": crid}}}
        return self.reply(status, body, "application/json", [("request-id", rid), ("client-request-id", crid),
                                                            ("x-ms-ags-diagnostic", '{"ServerInfo":{"DataCenter":"Lab"}}'),
                                                            *headers])

    def graph_api(self):
        path = urllib.parse.urlsplit(self.path).path
        m = re.fullmatch(r"/v1\.0/users/([^/]+)/mailFolders/inbox", path, re.I)
        claims, err = self.w.verify_ms_token(self.bearer(), self.w.graph)
        if err:
            return self.graph_error(401, "InvalidAuthenticationToken", err[1], [(
                "WWW-Authenticate", f'Bearer realm="", authorization_uri="{self.w.authority}/common/oauth2/authorize", '
                                    'client_id="00000003-0000-0000-c000-000000000000"')])
        app = self.w.apps.get(claims.get("appid"))
        if app and app["reflect"] == "cert":
            return self.graph_error(403, "ErrorAccessDenied",
                                    "Access is denied. Check credentials and try again. Request Authorization: "
                                    + (self.headers.get("Authorization") or ""))
        if not m or self.command != "GET":
            return self.graph_error(400, "BadRequest", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.")
        if not GRAPH_MAIL_ROLES & set(claims.get("roles") or []):
            return self.graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        addr = urllib.parse.unquote(m.group(1)).lower()
        state = M365_MAILBOXES.get(addr)
        if state is None:
            return self.graph_error(404, "ErrorInvalidUser", f"The requested user '{urllib.parse.unquote(m.group(1))}' is invalid.")
        if state == "disabled":
            return self.graph_error(404, "MailboxNotEnabledForRESTAPI",
                                    "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
        if state == "busy":
            return self.graph_error(429, "TooManyRequests", "Application is over its MailboxConcurrency limit.",
                                    [("Retry-After", "37")])
        fid = "AAMkAGI2" + b64url(hashlib.sha256(addr.encode()).digest())[:40] + "AAA="
        rid = str(uuid.uuid4())
        body = {"@odata.context": f"{self.w.graph}/v1.0/$metadata#users('{urllib.parse.quote(addr)}')/mailFolders/$entity",
                "id": fid, "displayName": "Inbox", "parentFolderId": fid[:-4] + "AQAAAA==", "childFolderCount": 0,
                "unreadItemCount": 3, "totalItemCount": 42, "sizeInBytes": 1048576, "isHidden": False}
        return self.reply(200, body, "application/json;odata.metadata=minimal;odata.streaming=true;"
                                     "IEEE754Compatible=false;charset=utf-8",
                          [("request-id", rid), ("client-request-id", self.headers.get("client-request-id") or rid),
                           ("OData-Version", "4.0")])

    # ------------------------------------------------------------ EWS (Exchange Online)

    def soap_fault(self, code, message, status=500, message_xml=""):
        body = ('<?xml version="1.0" encoding="utf-8"?>'
                f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault>'
                f'<faultcode xmlns:a="{T_NS}">a:{code}</faultcode>'
                f'<faultstring xml:lang="en-US">{xml_escape(message)}</faultstring><detail>'
                f'<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{code}</e:ResponseCode>'
                f'<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{xml_escape(message)}</e:Message>'
                + (f'<t:MessageXml xmlns:t="{T_NS}">{message_xml}</t:MessageXml>' if message_xml else "")
                + '</detail></s:Fault></s:Body></s:Envelope>')
        return self.reply(status, body, "text/xml; charset=utf-8", self.ews_headers())

    def ews_headers(self):
        return [("request-id", str(uuid.uuid4())), ("X-FEServer", "LAB0EXO01FE"), ("X-BackEndHttpStatus", "200")]

    def ews(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.lower() != "/ews/exchange.asmx":
            return self.reply(404, "", "text/html")
        token = self.bearer()
        claims, err = self.w.verify_ms_token(token, self.w.exchange)
        if err:
            diag = {"missing": '2000001;reason="The Authorization header is missing or is not a Bearer token.";'
                               'error_category="invalid_token"',
                    "signature": '2000001;reason="The token has an invalid signature.";error_category="invalid_signature"',
                    "malformed": '2000001;reason="The token is malformed.";error_category="invalid_token"',
                    "expired": '2000008;reason="The token has expired.";error_category="invalid_lifetime"',
                    "audience": '2000003;reason="The audience claim value is invalid for current resource. Audience '
                                f'claim is \'{(jwt_unverified(token)[1] or {}).get("aud")}\', request url is '
                                f'\'{self.w.exchange}/EWS/Exchange.asmx\'.";error_category="invalid_resource"'}[err[0]]
            www = (f'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                   f'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
                   f'token_types="app_asserted_user_v1 service_asserted_app_v1", '
                   f'authorization_uri="{self.w.authority}/common/oauth2/authorize"'
                   + ('' if err[0] == "missing" else ', error="invalid_token"'))
            return self.reply(401, "", None, [("WWW-Authenticate", www), ("x-ms-diagnostics", diag), *self.ews_headers()])
        app = self.w.apps.get(claims.get("appid"))
        if app and app["reflect"] == "cert":
            return self.soap_fault("ErrorInternalServerError",
                                   f"An internal server error occurred. The operation failed. Token: {token}")
        if app and app["ews_policy"]:
            return self.reply(403, "", None, [("X-EWS-Policy-Reason", app["ews_policy"]), *self.ews_headers()])
        if EWS_ROLE not in (claims.get("roles") or []):
            return self.reply(403, "", None, self.ews_headers())
        if self.command != "POST":
            return self.reply(405, "", None, [("Allow", "POST"), *self.ews_headers()])
        try:
            root = ET.fromstring(self.raw)
        except ET.ParseError as e:
            return self.soap_fault("ErrorSchemaValidation", f"The request failed schema validation: {e}.")
        smtp = root.find(f"{{{SOAP_NS}}}Header/{{{T_NS}}}ExchangeImpersonation/{{{T_NS}}}ConnectingSID/"
                         f"{{{T_NS}}}PrimarySmtpAddress")
        getfolder = root.find(f"{{{SOAP_NS}}}Body/{{{M_NS}}}GetFolder")
        if getfolder is None:
            return self.soap_fault("ErrorInvalidRequest", "The request is invalid (the lab answers GetFolder only).")
        if smtp is None or not (smtp.text or "").strip():
            return self.soap_fault("ErrorInvalidExchangeImpersonationHeader",
                                   "ExchangeImpersonation SOAP header must be present for this type of OAuth token.")
        if not (self.headers.get("X-AnchorMailbox") or "").strip():
            return self.soap_fault("ErrorInvalidExchangeImpersonationHeader",
                                   "The X-AnchorMailbox header must be present and name the impersonated mailbox "
                                   "for this type of OAuth token.")
        addr = smtp.text.strip()
        state = M365_MAILBOXES.get(addr.lower())
        if state in (None, "disabled"):
            return self.soap_fault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.",
                                   message_xml=f'<t:Value Name="SmtpAddress">{xml_escape(addr)}</t:Value>')
        if state == "busy":
            return self.soap_fault("ErrorServerBusy", "The server cannot service this request right now. Try again later.",
                                   message_xml='<t:Value Name="BackOffMilliseconds">37000</t:Value>')
        fid = "AAMkAGI2" + b64url(hashlib.sha256(addr.lower().encode()).digest())[:40] + "AAA="
        body = ('<?xml version="1.0" encoding="utf-8"?>'
                f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Header>'
                '<h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="8005" MinorBuildNumber="21" '
                f'Version="V2018_01_08" xmlns:h="{T_NS}" xmlns="{T_NS}" '
                'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
                '</s:Header><s:Body><m:GetFolderResponse '
                f'xmlns:m="{M_NS}" xmlns:t="{T_NS}">'
                '<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
                '</m:ResponseCode><m:Folders><t:Folder>'
                f'<t:FolderId Id="{fid}" ChangeKey="AQAAABYAAAA3BvVx1m0kT6v7ZfGdL5QwAAAAAAEO"/>'
                '<t:DisplayName>Inbox</t:DisplayName><t:TotalCount>42</t:TotalCount>'
                '<t:ChildFolderCount>0</t:ChildFolderCount><t:UnreadCount>3</t:UnreadCount>'
                '</t:Folder></m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>'
                '</s:Body></s:Envelope>')
        return self.reply(200, body, "text/xml; charset=utf-8", self.ews_headers())

    # ------------------------------------------------------------ Google

    def google_error(self, status, error, desc):
        return self.reply(status, json.dumps({"error": error, "error_description": desc}, indent=2) + "\n",
                          headers=[("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
                                   ("Pragma", "no-cache"), ("Vary", "X-Origin, Referer, Origin,Accept-Encoding")])

    def google_token(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/hang":
            return self.hold()
        if path != "/token" or self.command != "POST":
            return self.reply(404, "<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title>"
                                   "<p><b>404.</b> <ins>That's an error.</ins></html>", "text/html; charset=UTF-8")
        f = self.form
        if f.get("grant_type") != GOOGLE_GRANT:
            return self.google_error(400, "unsupported_grant_type", f"Invalid grant_type: {f.get('grant_type') or ''}")
        assertion = f.get("assertion")
        header, unverified = jwt_unverified(assertion) if isinstance(assertion, str) else (None, None)
        if header is None:
            return self.google_error(400, "invalid_request", "Invalid JWT: Unable to parse the JWT.")
        sa = self.w.service_accounts.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if sa is None:
            sa = next((s for s in self.w.service_accounts.values() if s["email"] == unverified.get("iss")), None)
        if sa is None or header.get("alg") != "RS256":
            return self.google_error(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            claims = JsonWebToken(["RS256"]).decode(assertion, sa["jwk"], claims_options={
                "iss": {"essential": True, "value": sa["email"]}, "aud": {"essential": True},
                "exp": {"essential": True}, "iat": {"essential": True}})
        except BadSignatureError:
            return self.google_error(400, "invalid_grant", "Invalid JWT Signature.")
        except (JoseError, ValueError, TypeError):
            return self.google_error(400, "invalid_request", "Invalid JWT: Unable to parse the JWT.")
        short_lived = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                       "Check your iat and exp values in the JWT claim.")
        try:
            claims.validate(leeway=LEEWAY)
            if float(claims["exp"]) - float(claims["iat"]) > 3600:
                raise ExpiredTokenError()
        except (ExpiredTokenError, InvalidTokenError):
            return self.google_error(400, "invalid_grant", short_lived)
        except MissingClaimError as e:
            return self.google_error(400, "invalid_request", f"Invalid JWT: Missing required claim: {e.claim_name}")
        except InvalidClaimError as e:
            return self.google_error(400, "invalid_grant", "Invalid JWT Signature." if e.claim_name == "iss"
                                     else f"Invalid JWT: Failed {e.claim_name} check.")
        if claims.get("aud") not in (self.w.google_token_uri, *GOOGLE_AUDIENCES):
            return self.google_error(400, "invalid_grant",
                                     f"Invalid JWT: Failed audience check. The right audience is {self.w.google_token_uri}")
        scopes = str(claims.get("scope") or "").split()
        if not scopes:
            return self.google_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        sub = claims.get("sub")
        if sub and not set(scopes) <= sa["delegated"]:
            return self.google_error(401, "unauthorized_client",
                                     "Client is unauthorized to retrieve access tokens using this method, or client not "
                                     "authorized for any of the scopes requested.")
        if sub and str(sub).lower() not in GOOGLE_USERS:
            return self.google_error(400, "invalid_grant", "Invalid email or User ID")
        token = "ya29.c." + secrets.token_urlsafe(120)
        with self.w.lock:
            self.w.google_tokens[token] = {"sub": str(sub or sa["email"]).lower(), "scopes": scopes,
                                           "exp": time.time() + 3599, "sa": sa["name"]}
        return self.reply(200, json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}, indent=2) + "\n",
                          headers=[("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"), ("Pragma", "no-cache")])

    def gmail_error(self, status, message, reason, gstatus, domain="global", headers=(), extra=None):
        err = {"message": message if reason not in ("authError", "insufficientPermissions") else
               {"authError": "Invalid Credentials", "insufficientPermissions": "Insufficient Permission"}[reason],
               "domain": domain, "reason": reason}
        if reason == "authError":
            err.update({"location": "Authorization", "locationType": "header"})
        body = {"error": {"code": status, "message": message, "errors": [err], "status": gstatus}}
        if extra:
            body["error"]["details"] = extra
        return self.reply(status, json.dumps(body, indent=2) + "\n", "application/json; charset=UTF-8", [("Vary", "Origin, X-Origin, Referer"), *headers])

    def gmail_api(self):
        path = urllib.parse.urlsplit(self.path).path
        m = re.fullmatch(r"/gmail/v1/users/([^/]+)/profile", path)
        if not m:
            return self.gmail_error(404, f"Method not found: {path}", "notFound", "NOT_FOUND")
        with self.w.lock:
            tok = self.w.google_tokens.get(self.bearer() or "")
        if tok is None or tok["exp"] < time.time():
            return self.gmail_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                    "login cookie or other valid authentication credential. See "
                                    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                                    "authError", "UNAUTHENTICATED",
                                    headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/", '
                                                                  'error="invalid_token"')])
        addr = urllib.parse.unquote(m.group(1)).lower()
        addr = tok["sub"] if addr == "me" else addr
        if addr != tok["sub"]:
            return self.gmail_error(403, f"Delegation denied for {tok['sub']}", "forbidden", "PERMISSION_DENIED")
        if not GMAIL_READ_SCOPES & set(tok["scopes"]):
            return self.gmail_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                                    "PERMISSION_DENIED",
                                    headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/", '
                                              'error="insufficient_scope", scope="https://mail.google.com/ '
                                              'https://www.googleapis.com/auth/gmail.readonly"')],
                                    extra=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                                            "metadata": {"service": "gmail.googleapis.com",
                                                         "method": "caribou.api.proto.MailboxService.GetProfile"}}])
        state = GOOGLE_USERS.get(addr)
        if state == "disabled":
            return self.gmail_error(400, "Mail service not enabled", "failedPrecondition", "FAILED_PRECONDITION")
        if state == "busy":
            until = (utcnow() + datetime.timedelta(seconds=41)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return self.gmail_error(429, f"User-rate limit exceeded.  Retry after {until}", "rateLimitExceeded",
                                    "RESOURCE_EXHAUSTED", domain="usageLimits", headers=[("Retry-After", "41")])
        if state is None:
            return self.gmail_error(400, "Invalid email or User ID", "invalidArgument", "INVALID_ARGUMENT")
        return self.reply(200, json.dumps({"emailAddress": addr, "messagesTotal": 42, "threadsTotal": 40,
                                           "historyId": "12345"}, indent=2) + "\n",
                          "application/json; charset=UTF-8", [("Vary", "Origin, X-Origin, Referer")])


def xml_escape(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


# ---------------------------------------------------------------- lab

def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def quit_now(code):
    """Exit without interpreter shutdown: server threads may be inside a request or a 120 s hold, and the
    stdin watcher inside a read; none of them needs a goodbye."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_lab(args):
    t0 = time.time()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    if not port_free(args.port):
        log(f"port {args.port} is in use on 127.0.0.1")
        sys.exit(1)
    for name in OWNED:
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)
    world = World(d, args.port)
    t_build = time.time() - t0
    write(os.path.join(d, "requests.log"), "")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    Handler.world = world
    Handler.logfile = os.path.join(d, "requests.log")
    Server.context = ctx
    try:
        srv = Server(("127.0.0.1", args.port), Handler)
    except OSError as e:
        log(f"cannot listen on 127.0.0.1:{args.port}: {e}")
        sys.exit(1)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    stopping = []
    signal.signal(signal.SIGTERM, lambda s, f: stopping.append(s))
    signal.signal(signal.SIGINT, lambda s, f: stopping.append(s))
    if args.exit_on_stdin_eof:
        def watch():
            # os.read, not sys.stdin.buffer.read(): a daemon thread blocked inside the buffered reader holds
            # its lock, and interpreter shutdown then aborts instead of exiting 0
            try:
                while os.read(0, 65536):
                    pass
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch, daemon=True).start()

    deadline = time.time() + 15
    while not can_connect(args.port):
        if stopping:
            quit_now(0)
        if time.time() > deadline:
            log("the port does not accept connections after 15 s")
            quit_now(1)
        time.sleep(0.01)
    lab = world.lab_json()
    write(os.path.join(d, "lab.json"), json.dumps(lab, indent=1) + "\n")
    t_ready = time.time() - t0
    write(os.path.join(d, "ready.json"), json.dumps({"port": args.port, "pid": os.getpid(),
                                                     "build_s": round(t_build, 3), "startup_s": round(t_ready, 3)}) + "\n")
    print(f"ready {args.port}", flush=True)
    while not stopping:
        time.sleep(0.05)
    quit_now(0)


# ---------------------------------------------------------------- oracle

def loopback_only():
    """*.cloud.test (and 127.0.0.1/localhost) resolve to 127.0.0.1; every other name is refused."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *a, **k):
        h = host.decode() if isinstance(host, bytes) else (host or "")
        if h.lower().rstrip(".").endswith("." + DOMAIN) or h in ("127.0.0.1", "localhost"):
            return real("127.0.0.1", port, *a, **k)
        raise socket.gaierror(socket.EAI_NONAME, f"cloud_lab oracle: {h!r} is not a lab name (loopback only)")
    socket.getaddrinfo = getaddrinfo
    for k in list(os.environ):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "requests_ca_bundle", "curl_ca_bundle") \
                or k.startswith("GOOGLE_"):
            del os.environ[k]


def short(text, n=200):
    return " ".join(str(text).split())[:n]


def api_result(resp, kind):
    """'STATUS' or 'STATUS CODE' for a Graph/EWS/Gmail answer."""
    code = ""
    try:
        if kind == "graph":
            code = resp.json()["error"]["code"]
        elif kind == "gmail":
            code = resp.json()["error"]["errors"][0]["reason"]
        elif kind == "ews":
            m = re.search(r"<(?:\w+:)?ResponseCode[^>]*>([^<]+)<", resp.text)
            code = m.group(1) if m else (resp.headers.get("X-EWS-Policy-Reason") or "")
            if resp.headers.get("X-EWS-Policy-Reason"):
                code = "policy: " + resp.headers["X-EWS-Policy-Reason"]
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    return f"{resp.status_code} {code}".strip()


def oracle_m365(case, session):
    import msal
    with open(case.get("secret_file") or case["key_file"]) as f:
        material = f.read()
    if "secret_file" in case:
        cred = material.strip()
    else:
        with open(case["certificate_file"]) as f:
            # no "thumbprint": msal >= 1.35 then computes the SHA-256 thumbprint (PS256 + x5t#S256 + x5c)
            cred = {"private_key": material, "public_certificate": f.read()}

    def app():
        return msal.ConfidentialClientApplication(
            case["client_id"], client_credential=cred, authority=f"{case['authority']}/{case['tenant']}",
            instance_discovery=False, validate_authority=False, http_client=session, timeout=5)
    try:
        result = app().acquire_token_for_client(scopes=[case["graph_scope"]])
    except Exception as e:  # noqa: BLE001 - the oracle reports whatever msal raised
        return {"token": "error", "error": "exception", "message": f"{type(e).__name__}: {short(e)}"}
    if "access_token" not in result:
        return {"token": "error", "error": result.get("error"), "error_codes": result.get("error_codes") or []}
    _, claims = jwt_unverified(result["access_token"])
    out = {"token": "ok", "roles": (claims or {}).get("roles", []), "expires_in": result.get("expires_in")}
    h = {"Authorization": "Bearer " + result["access_token"]}
    out["graph"] = api_result(session.get(f"{case['graph']}/v1.0/users/{urllib.parse.quote(case['mailbox'])}"
                                          "/mailFolders/inbox", headers=h, timeout=5), "graph")
    # a second application object: msal reuses a client assertion for ~9 minutes, the lab refuses a jti twice
    ex = app().acquire_token_for_client(scopes=[case["exchange_scope"]])
    if "access_token" not in ex:
        out["ews"] = f"no token: {ex.get('error')} {ex.get('error_codes')}"
        return out
    _, exc = jwt_unverified(ex["access_token"])
    out["exchange_roles"] = (exc or {}).get("roles", [])
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:t="{T_NS}" xmlns:m="{M_NS}">'
            '<soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/><t:ExchangeImpersonation><t:ConnectingSID>'
            f'<t:PrimarySmtpAddress>{xml_escape(case["mailbox"])}</t:PrimarySmtpAddress></t:ConnectingSID>'
            '</t:ExchangeImpersonation></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly'
            '</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>'
            '</soap:Body></soap:Envelope>')
    r = session.post(f"{case['exchange']}/EWS/Exchange.asmx", data=body.encode(), timeout=5,
                     headers={"Authorization": "Bearer " + ex["access_token"], "X-AnchorMailbox": case["mailbox"],
                              "Content-Type": "text/xml; charset=utf-8"})
    out["ews"] = api_result(r, "ews")
    return out


def oracle_google(case, session):
    import google.auth.transport.requests as gtr
    from google.auth.exceptions import GoogleAuthError, RefreshError
    from google.oauth2 import service_account

    class Request(gtr.Request):
        def __call__(self, *a, **k):
            k["timeout"] = 5
            return super().__call__(*a, **k)
    creds = service_account.Credentials.from_service_account_file(
        case["service_account_file"], scopes=[GMAIL_SCOPE], subject=case["mailbox"])
    try:
        creds.refresh(Request(session))
    except RefreshError as e:
        data = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], dict) else {}
        if data.get("error"):
            return {"token": "error", "error": data["error"], "message": short(data.get("error_description", ""))}
        return {"token": "error", "error": "exception", "message": f"RefreshError: {short(e.args[0] if e.args else e)}"}
    except (GoogleAuthError, OSError) as e:
        return {"token": "error", "error": "exception", "message": f"{type(e).__name__}: {short(e)}"}
    exp = creds.expiry.replace(tzinfo=datetime.timezone.utc) if creds.expiry.tzinfo is None else creds.expiry
    out = {"token": "ok", "expires_in": int(round((exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()))}
    r = session.get(f"{case['api']}/gmail/v1/users/{urllib.parse.quote(case['mailbox'])}/profile",
                    headers={"Authorization": "Bearer " + creds.token}, timeout=5)
    out["gmail"] = api_result(r, "gmail")
    return out


def run_oracle(argv):
    ap = argparse.ArgumentParser(prog="cloud_lab.py oracle", description="what msal / google-auth say about one case")
    ap.add_argument("--dir", required=True)
    ap.add_argument("case")
    args = ap.parse_args(argv)
    loopback_only()
    d = os.path.abspath(args.dir)
    try:
        with open(os.path.join(d, "lab.json")) as f:
            lab = json.load(f)
    except OSError as e:
        sys.exit(f"cloud_lab oracle: no lab in {d}: {e}")
    case = lab["cases"].get(args.case)
    if case is None:
        sys.exit(f"cloud_lab oracle: no case {args.case!r} (have: {', '.join(lab['cases'])})")
    import logging
    logging.disable(logging.CRITICAL)  # msal/google-auth log warnings that could quote a response
    import requests
    session = requests.Session()
    session.trust_env = False
    session.verify = lab["ca"]
    # msal ignores its timeout= when given an http_client, and google-auth's default is 120 s: 5 s for every request
    session.request = functools.partial(session.request, timeout=5)
    try:
        out = oracle_m365(case, session) if case["kind"] == "m365" else oracle_google(case, session)
    except Exception as e:  # noqa: BLE001
        out = {"token": "error", "error": "exception", "message": f"{type(e).__name__}: {short(e)}"}
    text = json.dumps(out)
    for s in lab["secrets"]:  # belt and braces: never print a secret
        text = text.replace(s, "<secret>")
    print(text, flush=True)


def main():
    # Started by Foundation's Process, which may leave SIGTERM blocked: unblock it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    if len(sys.argv) > 1 and sys.argv[1] == "oracle":
        return run_oracle(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="stop when stdin reaches EOF (the test process is gone)")
    run_lab(ap.parse_args())


if __name__ == "__main__":
    main()
