#!/usr/bin/env python3
"""A small EWS SOAP responder for the ews_login lab (behind nginx, which does Basic auth).

It answers GetFolder like Exchange does for the case named by the impersonated address's
local part, and refuses requests whose X-AnchorMailbox does not match the impersonated address.
"""
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = ('<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
           'MinorBuildNumber="6" Version="V2017_07_11" '
           'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/>')
ENVELOPE = ('<?xml version="1.0" encoding="utf-8"?>'
            '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            '<s:Header>' + VERSION + '</s:Header><s:Body>{body}</s:Body></s:Envelope>')
MESSAGE = ('<m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
           '<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="{cls}">'
           '{text}<m:ResponseCode>{code}</m:ResponseCode>{folders}'
           '</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>')
FAULT = ('<s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:{code}</faultcode>'
         '<faultstring xml:lang="en-US">{text}</faultstring><detail>'
         '<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{code}</e:ResponseCode>'
         '</detail></s:Fault>')


def message(cls, code, text=''):
    folders = '<m:Folders><t:Folder><t:FolderId Id="AAMk"/></t:Folder></m:Folders>' if cls == 'Success' else ''
    text = f'<m:MessageText>{text}</m:MessageText>' if text else ''
    return ENVELOPE.format(body=MESSAGE.format(cls=cls, code=code, text=text, folders=folders))


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype='text/xml; charset=utf-8'):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0'))).decode()
        if 'GetFolder' not in body or 'RequestServerVersion' not in body:
            return self.reply(400, 'not a GetFolder request', 'text/plain')
        m = re.search(r'<t:PrimarySmtpAddress>([^<]+)</t:PrimarySmtpAddress>', body)
        if not m:
            return self.reply(200, message('Success', 'NoError'))
        address = m.group(1)
        if self.headers.get('X-AnchorMailbox') != address:
            return self.reply(400, 'X-AnchorMailbox missing or different', 'text/plain')
        case = address.split('@')[0]
        if case == 'denied':
            text = 'The account does not have permission to impersonate the requested user.'
            return self.reply(500, ENVELOPE.format(body=FAULT.format(code='ErrorImpersonateUserDenied', text=text)))
        if case == 'ghost':
            return self.reply(200, message('Error', 'ErrorNonExistentMailbox', 'No mailbox with such guid.'))
        if case == 'busy':
            return self.reply(500, ENVELOPE.format(body=FAULT.format(code='ErrorServerBusy', text='The server cannot service this request right now.')))
        if case == 'store':
            return self.reply(200, message('Error', 'ErrorMailboxStoreUnavailable', 'The mailbox database is temporarily unavailable.'))
        if case == 'html':
            return self.reply(200, '<html><body><h1>Server Error in \'/EWS\' Application.</h1></body></html>', 'text/html')
        return self.reply(200, message('Success', 'NoError'))


if __name__ == '__main__':
    ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
