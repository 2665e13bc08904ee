#!/usr/bin/env python3
"""Misbehaving servers for the reliability lab. usage: hostile_server.py PORT MODE [CERT KEY]

Each mode is one way a broken or hostile server answers; the tests assert that ewsprobe ends
each probe within its timeout with a specific reason and keeps running. Modes starting with
`tls-` complete a TLS handshake with CERT (the chain, leaf first) and KEY first.
"""
import base64
import os
import socket
import socketserver
import ssl
import struct
import sys
import time
import urllib.parse

PORT = int(sys.argv[1])
MODE = sys.argv[2]
# `tls-` modes take CERT and KEY as arguments; TLS_CERT and TLS_KEY make any other mode speak
# TLS (the modes that take credentials, which go only over TLS).
TLS = None
if MODE.startswith('tls-'):
    TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    TLS.load_cert_chain(sys.argv[3], sys.argv[4])
elif os.environ.get('TLS_CERT'):
    TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    TLS.load_cert_chain(os.environ['TLS_CERT'], os.environ['TLS_KEY'])
# The 'reflect' mode's knowledge of the credentials (as if learned from an earlier request).
REFLECT_USER = os.environ.get('REFLECT_USER', '')
REFLECT_PASSWORD = os.environ.get('REFLECT_PASSWORD', '')


def read_request(conn):
    """Reads one HTTP request head and its body; returns the head text or None."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    head, _, rest = data.partition(b'\r\n\r\n')
    length = 0
    for line in head.split(b'\r\n'):
        if line.lower().startswith(b'content-length:'):
            length = int(line.split(b':', 1)[1])
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head.decode('latin-1')


def response(status, headers=(), body=b'', close=False):
    lines = ['HTTP/1.1 %s' % status] + ['%s: %s' % h for h in headers]
    lines.append('Content-Length: %d' % len(body))
    if close:
        lines.append('Connection: close')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


def u16(v):
    return struct.pack('<H', v)


def u32(v):
    return struct.pack('<I', v)


def challenge(target_info, info_offset=None, info_length=None, total_cut=None):
    name = 'HOSTILE'.encode('utf-16-le')
    flags = 0xA2898205
    info_offset = 56 + len(name) if info_offset is None else info_offset
    info_length = len(target_info) if info_length is None else info_length
    msg = b'NTLMSSP\x00' + u32(2) + u16(len(name)) + u16(len(name)) + u32(56) + u32(flags)
    msg += b'\x01\x23\x45\x67\x89\xab\xcd\xef' + b'\x00' * 8
    msg += u16(info_length & 0xffff) + u16(info_length & 0xffff) + u32(info_offset)
    msg += bytes([10, 0]) + u16(17763) + b'\x00\x00\x00\x0f' + name + target_info
    return msg[:total_cut] if total_cut else msg


def secret_forms(auth):
    """The request's Authorization value and every form of the known password."""
    pw = REFLECT_PASSWORD
    basic = base64.b64encode(('%s:%s' % (REFLECT_USER, pw)).encode()).decode()
    return {
        'auth': auth,
        'plain': pw,
        'basic': basic,
        'b64': base64.b64encode(pw.encode()).decode(),
        'pct': urllib.parse.quote(pw, safe=''),
    }


def xml_escape(text):
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;')


def reflect(path, auth):
    """Answers with the credentials in every place a server can put them."""
    f = secret_forms(auth)
    everything = ' '.join('%s=%s' % item for item in f.items())
    headers = [('X-Echo-Authorization', auth or '-'), ('X-FEServer', f['plain']), ('X-BEServer', f['basic']),
               ('Set-Cookie', 'echo=%s; Path=/' % f['pct'])]
    if auth.startswith('Basic '):
        version = ('<h:ServerVersionInfo MajorVersion="%s" MinorVersion="%s" '
                   'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/>'
                   % (xml_escape(f['plain']), xml_escape(f['basic'])))
        body = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
                '<s:Header>' + version + '</s:Header><s:Body>'
                '<m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
                '<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Error">'
                '<m:MessageText>you sent Authorization: ' + xml_escape(everything) + '</m:MessageText>'
                '<m:ResponseCode>' + xml_escape(f['pct']) + '</m:ResponseCode>'
                '</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse></s:Body></s:Envelope>')
        return response('500 Internal Server Error', headers + [('Content-Type', 'text/xml')], body.encode())
    if auth.startswith('NTLM '):
        info = av(1, f['plain'].encode('utf-16-le')) + av(3, f['basic'].encode('utf-16-le')) + av(0, b'')
        token = base64.b64encode(challenge(info)).decode()
        return response('401 Unauthorized', headers + [('WWW-Authenticate', 'NTLM ' + token)], everything.encode())
    if path.startswith('/redirect/'):
        # Same host first (followed), then another host (judged from its URL alone, never fetched).
        hop = '/hop/%s?b64=%s&basic=%s' % (f['pct'], f['b64'], f['basic'])
        return response('302 Found', headers + [('Location', hop)], everything.encode())
    if path.startswith('/hop/'):
        away = 'https://elsewhere.test/%s?p=%s&raw=%s' % (f['basic'], f['pct'], f['plain'])
        return response('302 Found', headers + [('Location', away)], everything.encode())
    challenges = [('WWW-Authenticate', 'Basic realm="%s"' % f['plain'].replace('"', '')),
                  ('WWW-Authenticate', 'NTLM'),
                  ('WWW-Authenticate', '%s realm="%s"' % (f['pct'], f['basic'])),
                  ('WWW-Authenticate', 'Negotiate ' + f['basic'])]
    return response('401 Unauthorized', headers + challenges, everything.encode())


def av(av_id, value):
    return u16(av_id) + u16(len(value)) + value


def ntlm_token(mode):
    good_info = av(1, 'HOSTILE'.encode('utf-16-le')) + av(0, b'')
    if mode == 'ntlm-noname':
        # Names present but empty, a domain and a clock: nothing that tells one server from another.
        stamp = struct.pack('<Q', int((time.time() + 11644473600) * 10000000))
        return challenge(av(2, 'LAB'.encode('utf-16-le')) + av(1, b'') + av(3, b'') + av(7, stamp) + av(0, b''))
    if mode == 'ntlm-longname':
        name = ('cas\x1b[2K\x07' + 'x' * 1000 + '.lab.test').encode('utf-16-le')
        return challenge(av(1, 'CAS'.encode('utf-16-le')) + av(3, name) + av(0, b''))
    if mode == 'ntlm-truncated':
        return challenge(good_info, total_cut=40)
    if mode == 'ntlm-offsets':
        return challenge(good_info, info_offset=60000)
    if mode == 'ntlm-avpair':
        return challenge(u16(1) + u16(5000) + b'AB' + av(0, b''))
    if mode == 'ntlm-huge-av':
        pairs = b''.join(av(2, b'X\x00') for _ in range(10000)) + av(0, b'')
        return challenge(pairs)
    return challenge(good_info)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(30)
        try:
            if TLS is not None:
                conn = TLS.wrap_socket(conn, server_side=True)
            self.serve(conn)
        except (OSError, ValueError):
            pass

    def serve(self, conn):
        if MODE == 'silent':
            time.sleep(30)
            return
        if MODE == 'reset-tls':
            conn.recv(4096)  # the ClientHello
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            return
        if MODE == 'garbage':
            conn.recv(4096)
            conn.sendall(b'\x17\x99garbage, not TLS at all\r\n' * 50)
            time.sleep(1)
            return
        answered = 0
        while True:
            head = read_request(conn)
            if head is None:
                return
            auth = ''
            for line in head.split('\r\n'):
                if line.lower().startswith('authorization:'):
                    auth = line.split(':', 1)[1].strip()
            if MODE == 'record':
                # Keeps every request head (requests.log in the working directory): a test reads
                # what reached the server, e.g. that no credentials came over plain http.
                with open('requests.log', 'a') as log:
                    log.write(head + '\n\n')
                if auth.startswith('NTLM '):
                    token = base64.b64encode(ntlm_token(MODE)).decode()
                    conn.sendall(response('401 Unauthorized', [('WWW-Authenticate', 'NTLM ' + token)]))
                else:
                    conn.sendall(response('401 Unauthorized', [('WWW-Authenticate', 'NTLM'), ('WWW-Authenticate', 'Basic realm="x"')]))
                continue
            if MODE == 'redirect-http':
                conn.sendall(response('302 Found', [('Location', os.environ['REDIRECT_TO'])]))
                continue
            if MODE == 'reflect':
                path = head.split(' ', 2)[1] if ' ' in head else '/'
                conn.sendall(reflect(path, auth))
                continue
            if MODE == 'drip':
                for byte in response('401 Unauthorized', [('WWW-Authenticate', 'NTLM')]):
                    conn.sendall(bytes([byte]))
                    time.sleep(1)
                return
            if MODE == 'headers-1mib':
                conn.sendall(b'HTTP/1.1 401 Unauthorized\r\n')
                line = b'X-Filler: ' + b'a' * 1000 + b'\r\n'
                for _ in range(1100):
                    conn.sendall(line)
                conn.sendall(b'Content-Length: 0\r\n\r\n')
                continue
            if MODE == 'body-100mib':
                size = 100 << 20
                conn.sendall(('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n' % size).encode())
                block = b'<a>' * 21845
                sent = 0
                while sent < size:
                    chunk = block[: min(len(block), size - sent)]
                    conn.sendall(chunk)
                    sent += len(chunk)
                continue
            if MODE == 'tls-close':
                return  # the handshake was fine; the request gets no answer, the connection closes
            if MODE == 'tls-stall':
                time.sleep(30)
                return
            if MODE == 'tls-exchange':
                conn.sendall(response('401 Unauthorized', [('WWW-Authenticate', 'NTLM'), ('WWW-Authenticate', 'Basic realm="x"')]))
                continue
            if MODE == 'many-schemes':
                # 200 made-up schemes of 1 KB each beside the real ones.
                headers = [('WWW-Authenticate', 'X%03d%s realm="r"' % (i, 'z' * 1000)) for i in range(200)]
                headers += [('WWW-Authenticate', 'Negotiate'), ('WWW-Authenticate', 'NTLM'), ('WWW-Authenticate', 'Basic realm="x"')]
                conn.sendall(response('401 Unauthorized', headers))
                continue
            if MODE == 'ntlm-endless' and auth.startswith('NTLM '):
                # The CHALLENGE's body has no length and never ends: the connection cannot carry a next leg.
                token = base64.b64encode(ntlm_token(MODE)).decode()
                conn.sendall(('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM %s\r\n\r\n' % token).encode())
                while True:
                    conn.sendall(b'<html>' * 10000)
            if MODE == 'many-auth':
                headers = [('WWW-Authenticate', 'Basic realm="r%d"' % i) for i in range(500)]
                conn.sendall(response('401 Unauthorized', headers))
                continue
            if MODE.startswith('ntlm-'):
                if auth.startswith('NTLM '):
                    token = base64.b64encode(ntlm_token(MODE)).decode()
                    close = MODE == 'ntlm-close'
                    reply = response('401 Unauthorized', [('WWW-Authenticate', 'NTLM ' + token)], close=close)
                    if MODE == 'ntlm-http10':
                        # HTTP/1.0 without keep-alive: the connection ends with the answer.
                        reply = reply.replace(b'HTTP/1.1 ', b'HTTP/1.0 ', 1)
                    if MODE == 'ntlm-excess':
                        # A second answer nobody asked for right behind the first, in the same
                        # write: a client drops it with the read (curl: "excess found").
                        reply += b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
                    answered += 1
                    if MODE == 'ntlm-stall' and answered > 1:
                        # The first NEGOTIATE on a connection is answered, a later one never.
                        time.sleep(30)
                        return
                    conn.sendall(reply)
                    # ntlm-hangup closes without saying so (no Connection: close).
                    if close or MODE in ('ntlm-hangup', 'ntlm-http10'):
                        return
                else:
                    conn.sendall(response('401 Unauthorized', [('WWW-Authenticate', 'NTLM'), ('WWW-Authenticate', 'Basic realm="x"')]))
                continue
            if MODE.startswith('soap-'):
                if MODE == 'soap-notxml':
                    body = b'\x00\x01 this is not XML { } \xff\xfe'
                elif MODE == 'soap-nested':
                    body = b'<s:Envelope xmlns:s="x">' + b'<a>' * 100000 + b'</s:Envelope>'
                else:
                    body = b'<s:Envelope xmlns:s="x"><s:Body>' + b'<m:Item>x</m:Item>' * 500000 + b'</s:Body></s:Envelope>'
                if not auth:
                    conn.sendall(response('401 Unauthorized', [('WWW-Authenticate', 'Basic realm="x"')]))
                else:
                    conn.sendall(response('200 OK', [('Content-Type', 'text/xml')], body))
                continue
            conn.sendall(response('404 Not Found'))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == '__main__':
    Server(('127.0.0.1', PORT), Handler).serve_forever()
