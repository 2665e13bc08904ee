#!/usr/bin/env python3
"""Misbehaving LDAP peers for the `ldap` tests. usage: hostile_ldap.py PORT MODE [options]

    --host 127.0.0.1      listen address (loopback only)
    --tls CERT KEY        LDAPS: a TLS handshake with CERT (chain, leaf first) and KEY at connect
    --starttls CERT KEY   answer a StartTLS request for real (success, then the TLS handshake) and
                          only then misbehave as MODE; without it MODE starts with the first request
    --ad-lengths          every BER length in four octets (0x84 ...), as Active Directory writes them
    --oversize N          bytes of filler the `oversized` mode sends after its header (default 1 MiB)
    --log FILE            one line per event: `accept`, `request OP id=N` (for a bind also
                          `dn=... password=yes|no`, never the password), `sent WHAT`, `close`

Modes (each connection independently):
  http                 reads what the client sends, answers `HTTP/1.1 400 Bad Request` and closes
                       (a web server on the LDAP port)
  banner               sends an SMTP banner `220 ...` at connect and waits (a mail server)
  garbage              sends 64 random bytes at connect and closes
  truncated            sends the start of an LDAPMessage (30 82 10 00, then 16 bytes of a 4 KiB
                       message) at connect and closes: bytes that could be LDAP, never completed
  silent               accepts and never answers (the connection stays open)
  close                accepts and closes at once
  drop-after-starttls  answers a StartTLS extended request with success (resultCode 0,
                       responseName 1.3.6.1.4.1.1466.20037) and closes without a TLS handshake;
                       any other request is answered by closing
  starttls-refused     answers StartTLS with protocolError (2) "unsupported extended operation",
                       like a slapd without TLS, then answers other requests with unwillingToPerform
  oversized            answers the first request with an LDAPMessage whose length says 2^31-1 bytes
                       (0x30 0x84 0x7f 0xff 0xff 0xff), then --oversize bytes of filler, then waits
  huge-length          answers with a length of 2^64-1 in 8 length octets (0x30 0x88 0xff*8)
  length-overflow      answers with 9 length octets (0x30 0x89 ...), more than BER allows here
  malformed            answers with an LDAPMessage whose inner element claims more bytes than the
                       message holds: 30 07 02 01 ID 78 10 0a 01 (then closes)
  wrong-tag            answers with a correctly framed LDAPMessage whose protocolOp is an
                       INTEGER instead of a response (30 06 02 01 ID 02 01 00)
  wrong-id             answers with a correct response of the right type but messageID + 100
  indefinite           answers with an indefinite-length SEQUENCE (0x30 0x80 ... 00 00), which
                       LDAP forbids
  notice               answers the first request with an unsolicited notification (messageID 0)
                       whose responseName is --notice-oid (default empty: libldap 2.5 asserts
                       on that and aborts the process), then waits
  echo-password        answers a bind with invalidCredentials whose diagnostic is 500 bytes of
                       filler, then the password the bind carried (a server that reflects it
                       where a client keeps only the first 512 bytes)
  flood                answers a bind with success and a search with --flood search entries of
                       4 KiB each whatever its size limit, then the result (a server ignoring
                       the client's size limit)

PORT 0 picks a free port. Prints `READY PORT` (the real port) on stdout when listening. SIGTERM
stops it.
"""
import argparse
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
OPS = {0x60: "bind", 0x42: "unbind", 0x63: "search", 0x66: "modify", 0x68: "add", 0x4a: "delete",
       0x6c: "modrdn", 0x6e: "compare", 0x50: "abandon", 0x77: "extended"}
RESPONSE_TAG = {0x60: 0x61, 0x63: 0x65, 0x66: 0x67, 0x68: 0x69, 0x4a: 0x6b, 0x6c: 0x6d, 0x6e: 0x6f, 0x77: 0x78}


# --- a tiny BER encoder (definite lengths, as LDAP requires) --------------------------------
def ber_length(n):
    if ARGS is not None and ARGS.ad_lengths:
        return b"\x84" + n.to_bytes(4, "big")  # Active Directory writes every length so
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag, content):
    return bytes([tag]) + ber_length(len(content)) + content


def ber_int(value, tag=0x02):
    length = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(tag, value.to_bytes(length, "big", signed=True))


def ber_enum(value):
    return ber_int(value, 0x0A)


def octets(data, tag=0x04):
    return tlv(tag, data if isinstance(data, bytes) else data.encode())


def ldap_result(code, matched="", message=""):
    return ber_enum(code) + octets(matched) + octets(message)


def ldap_message(message_id, op_tag, op_content):
    return tlv(0x30, ber_int(message_id) + tlv(op_tag, op_content))


def extended_response(message_id, code, message="", name=None):
    body = ldap_result(code, "", message)
    if name is not None:
        body += octets(name, 0x8A)  # responseName [10]
    return ldap_message(message_id, 0x78, body)


def response_for(message_id, op, code, message=""):
    """The response to request `op` (a tag) carrying resultCode `code`."""
    if op == 0x77:
        return extended_response(message_id, code, message)
    return ldap_message(message_id, RESPONSE_TAG.get(op, 0x78), ldap_result(code, "", message))


# --- a tiny BER reader for the requests -----------------------------------------------------
class Closed(Exception):
    pass


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise Closed()
        data += chunk
    return data


def read_message(conn, limit=1 << 20):
    """Reads one LDAPMessage; returns (messageID, op tag, op content)."""
    tag = read_exact(conn, 1)[0]
    if tag != 0x30:
        raise ValueError(f"not an LDAPMessage (tag 0x{tag:02x})")
    first = read_exact(conn, 1)[0]
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise ValueError("bad length")
        length = int.from_bytes(read_exact(conn, count), "big")
    else:
        length = first
    if length > limit:
        raise ValueError("request too large")
    body = read_exact(conn, length)
    elems = list(parse_elements(body))
    (id_tag, id_bytes), (op_tag, op_content) = elems[0], elems[1]
    return int.from_bytes(id_bytes, "big", signed=True), op_tag, op_content


def parse_elements(data):
    i = 0
    while i < len(data):
        tag = data[i]
        first = data[i + 1]
        i += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[i:i + count], "big")
            i += count
        else:
            length = first
        yield tag, data[i:i + length]
        i += length


def describe(op, content):
    name = OPS.get(op, f"0x{op:02x}")
    if op == 0x60:
        elems = list(parse_elements(content))
        dn = elems[1][1].decode("utf-8", "replace") if len(elems) > 1 else ""
        password = elems[2][1] if len(elems) > 2 and elems[2][0] == 0x80 else b""
        return f"{name} dn={dn} password={'yes' if password else 'no'}"
    if op == 0x77:
        elems = list(parse_elements(content))
        oid = elems[0][1].decode("ascii", "replace") if elems else ""
        return f"{name} oid={oid}"
    return name


# --- the server -----------------------------------------------------------------------------
ARGS = None
LOG_LOCK = threading.Lock()


def log(event):
    if ARGS.log:
        with LOG_LOCK, open(ARGS.log, "a") as f:
            f.write(f"{time.time():.3f} {event}\n")


def hold(conn, seconds=3600):
    """Keeps the connection open until the client goes away."""
    conn.settimeout(seconds)
    try:
        while conn.recv(65536):
            pass
    except (OSError, ssl.SSLError):
        pass


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        log(f"accept {self.client_address[0]}:{self.client_address[1]}")
        try:
            if ARGS.tls:
                conn = tls_context(ARGS.tls).wrap_socket(conn, server_side=True)
                log("tls established")
            self.serve(conn)
        except Closed:
            pass
        except (OSError, ssl.SSLError, ValueError) as e:
            log(f"error {e.__class__.__name__}: {e}")
        finally:
            log("close")
            try:
                conn.close()
            except OSError:
                pass

    def serve(self, conn):
        mode = ARGS.mode
        if mode == "silent":
            return hold(conn)
        if mode == "close":
            return
        if mode == "garbage":
            conn.sendall(os.urandom(64))
            log("sent garbage")
            return
        if mode == "truncated":
            conn.sendall(b"\x30\x82\x10\x00" + b"\x02\x01\x01" + b"\x00" * 13)
            log("sent truncated message")
            return
        if mode == "banner":
            conn.sendall(b"220 mail.example.com ESMTP Postfix\r\n")
            log("sent banner")
            return hold(conn)
        if mode == "http":
            conn.settimeout(10)
            try:
                conn.recv(65536)
            except OSError:
                pass
            body = b"<html><body><h1>400 Bad Request</h1></body></html>\n"
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            log("sent http 400")
            return
        while True:
            message_id, op, content = read_message(conn)
            log(f"request {describe(op, content)} id={message_id}")
            if op == 0x42:  # unbind
                return
            is_starttls = op == 0x77 and STARTTLS_OID in content
            if ARGS.starttls and is_starttls and not isinstance(conn, ssl.SSLSocket):
                conn.sendall(extended_response(message_id, 0, "", STARTTLS_OID))
                conn = tls_context(ARGS.starttls).wrap_socket(conn, server_side=True)
                log("starttls: tls established")
                continue
            return self.misbehave(conn, mode, message_id, op, is_starttls)

    def misbehave(self, conn, mode, message_id, op, is_starttls):
        if mode == "drop-after-starttls":
            if is_starttls:
                conn.sendall(extended_response(message_id, 0, "", STARTTLS_OID))
                log("sent starttls success, closing")
            return
        if mode == "starttls-refused":
            while True:
                if op == 0x77 and is_starttls:
                    conn.sendall(extended_response(message_id, 2, "unsupported extended operation"))
                    log("sent starttls protocolError")
                else:
                    conn.sendall(response_for(message_id, op, 53, "hostile_ldap: unwilling"))
                    log("sent unwillingToPerform")
                message_id, op, content = read_message(conn)
                log(f"request {describe(op, content)} id={message_id}")
                if op == 0x42:
                    return
                is_starttls = op == 0x77 and STARTTLS_OID in content
        if mode == "oversized":
            conn.sendall(b"\x30\x84\x7f\xff\xff\xff" + ber_int(message_id) + b"\x78\x84\x7f\xff\xff\xf0")
            sent, chunk = 0, b"\x04" * 65536
            while sent < ARGS.oversize:
                n = min(len(chunk), ARGS.oversize - sent)
                conn.sendall(chunk[:n])
                sent += n
            log(f"sent oversized header and {sent} bytes")
            return hold(conn)
        if mode == "huge-length":
            conn.sendall(b"\x30\x88" + b"\xff" * 8 + ber_int(message_id))
            log("sent huge length")
            return hold(conn)
        if mode == "length-overflow":
            conn.sendall(b"\x30\x89" + b"\x01" * 9 + ber_int(message_id))
            log("sent 9 length octets")
            return hold(conn)
        if mode == "malformed":
            inner = ber_int(message_id) + b"\x78\x10\x0a\x01"  # the op claims 16 bytes, 2 follow
            conn.sendall(b"\x30" + ber_length(len(inner)) + inner)
            log("sent malformed")
            return
        if mode == "wrong-tag":
            conn.sendall(tlv(0x30, ber_int(message_id) + ber_int(0)))
            log("sent wrong tag")
            return hold(conn, 30)
        if mode == "wrong-id":
            conn.sendall(response_for(message_id + 100, op, 0))
            log("sent wrong id")
            return hold(conn, 30)
        if mode == "echo-password":
            while True:
                if op == 0x60:
                    elems = list(parse_elements(content))
                    password = elems[2][1].decode("utf-8", "replace") if len(elems) > 2 else ""
                    conn.sendall(ldap_message(message_id, 0x61, ldap_result(49, "", "x" * 500 + password + " is wrong")))
                    log("sent the password back")
                elif op == 0x63:
                    conn.sendall(ldap_message(message_id, 0x65, ldap_result(0)))
                elif op == 0x42:
                    return
                message_id, op, content = read_message(conn)
        if mode == "notice":
            body = ldap_result(52, "", "hostile_ldap: going away") + octets(ARGS.notice_oid, 0x8A)
            conn.sendall(ldap_message(0, 0x78, body))
            log(f"sent notice oid={ARGS.notice_oid!r}")
            return hold(conn, 30)
        if mode == "flood":
            while True:
                if op == 0x60:
                    conn.sendall(ldap_message(message_id, 0x61, ldap_result(0)))
                elif op == 0x63:
                    attribute = tlv(0x30, octets("description") + tlv(0x31, octets("x" * 4096)))
                    entry = lambda n: ldap_message(message_id, 0x64, octets(f"cn=flood{n},dc=example,dc=com") + tlv(0x30, attribute))
                    for n in range(ARGS.flood):
                        conn.sendall(entry(n))
                    conn.sendall(ldap_message(message_id, 0x65, ldap_result(0)))
                    log(f"sent {ARGS.flood} entries")
                elif op == 0x42:
                    return
                message_id, op, content = read_message(conn)
                log(f"request {describe(op, content)} id={message_id}")
        if mode == "indefinite":
            conn.sendall(b"\x30\x80" + ber_int(message_id) + tlv(0x78, ldap_result(0)) + b"\x00\x00")
            log("sent indefinite length")
            return hold(conn, 30)
        raise ValueError(f"unknown mode {mode}")


def tls_context(pair):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair[0], pair[1])
    return ctx


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


MODES = ["http", "banner", "garbage", "truncated", "silent", "close", "drop-after-starttls", "starttls-refused", "oversized",
         "huge-length", "length-overflow", "malformed", "wrong-tag", "wrong-id", "indefinite", "flood", "notice", "echo-password"]


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int)
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--oversize", type=int, default=1 << 20)
    ap.add_argument("--ad-lengths", action="store_true")
    ap.add_argument("--flood", type=int, default=50_000)
    ap.add_argument("--notice-oid", default="")
    ap.add_argument("--log")
    ARGS = ap.parse_args()
    if not ARGS.host.startswith("127."):
        ap.error("--host must be a loopback address")
    server = Server((ARGS.host, ARGS.port), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: (server.server_close(), os._exit(0)))
    server.serve_forever()


if __name__ == "__main__":
    main()
