#!/usr/bin/env python3
"""An EWS-like NTLM backend for the lb_affinity lab, with pyspnego as the accepting side.

usage: ntlm_backend.py PORT COMPUTER_NAME [ntlm|basic-only]

Each backend has its own computer name (pyspnego names the challenger after the host name, so
it is replaced here), keeps one NTLM context per TCP connection as IIS does, and answers a
minimal EWS SOAP response once the connection is authenticated. NTLM_USER_FILE holds the test
account (DOMAIN:USER:PASSWORD).
"""
import base64
import os
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
NAME = sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else 'ntlm'
socket.gethostname = lambda: NAME.lower() + '.lab.test'

import spnego  # noqa: E402  (after the host name is replaced)

SOAP = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        '<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1118" '
        'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body>'
        '<m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><m:ResponseMessages>'
        '<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        '</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse></s:Body></s:Envelope>')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.context = None
        self.authenticated = False

    def reply(self, status, headers=(), body=''):
        data = body.encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('X-Lab-Backend', NAME)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def challenge_headers(self):
        if MODE == 'basic-only':
            return [('WWW-Authenticate', 'Basic realm="lab"')]
        return [('WWW-Authenticate', 'Negotiate'), ('WWW-Authenticate', 'NTLM'), ('WWW-Authenticate', 'Basic realm="lab"')]

    def handle_any(self):
        length = int(self.headers.get('Content-Length', '0'))
        if length:
            self.rfile.read(length)
        if self.authenticated:
            return self.reply(200, [('Content-Type', 'text/xml; charset=utf-8')], SOAP)
        auth = self.headers.get('Authorization', '')
        scheme, _, value = auth.partition(' ')
        if MODE == 'basic-only' or scheme.lower() not in ('ntlm', 'negotiate') or not value:
            return self.reply(401, self.challenge_headers())
        try:
            token = base64.b64decode(value)
        except ValueError:
            return self.reply(400)
        if len(token) < 12:
            return self.reply(400)
        if token[8] == 1:
            self.context = spnego.server(protocol='ntlm')
            out = self.context.step(token)
            return self.reply(401, [('WWW-Authenticate', scheme + ' ' + base64.b64encode(out).decode())])
        if token[8] == 3 and self.context is not None:
            try:
                self.context.step(token)
            except Exception as error:  # a wrong password or MIC: the handshake failed
                self.context = None
                return self.reply(401, self.challenge_headers(), 'rejected: %s' % type(error).__name__)
            if self.context.complete:
                self.authenticated = True
                return self.reply(200, [('Content-Type', 'text/xml; charset=utf-8')], SOAP)
        # AUTHENTICATE without a challenge on this connection (split handshake): start over.
        return self.reply(401, self.challenge_headers())

    do_GET = handle_any
    do_POST = handle_any


class Server(ThreadingHTTPServer):
    """With TLS_CERT and TLS_KEY, speaks TLS: the tests' credentials go only over verified TLS.
    The handshake runs in the connection's thread, on its first read."""
    tls = None
    # socketserver's default listen backlog is 5: a burst of connections (a scheduler wave of
    # runs against one farm) would see SYNs dropped and retried a second later, which IIS, with
    # a backlog in the thousands, never does.
    request_queue_size = 1024

    def get_request(self):
        conn, address = super().get_request()
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, address


if __name__ == '__main__':
    server = Server(('127.0.0.1', PORT), Handler)
    if os.environ.get('TLS_CERT'):
        server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls.load_cert_chain(os.environ['TLS_CERT'], os.environ['TLS_KEY'])
    server.serve_forever()
