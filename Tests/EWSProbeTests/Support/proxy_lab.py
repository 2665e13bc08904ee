#!/usr/bin/env python3
"""Outbound HTTP proxies on loopback for the proxy (CONNECT) tests: real squid and tinyproxy,
and hand-written hostile proxies.

usage: proxy_lab.py MODE [STATUS] --port P --dir D [--user U --password P] [--deny-host H]
                    [--host NAME=IP ...] [--also-basic] [--exit-on-stdin-eof]

Every mode listens on 127.0.0.1:P only, keeps all its files in D (made if missing; config, logs,
pid; nothing in /etc or /var is written), prints one line `ready P` on stdout (flushed) once the
port accepts connections, and stays in the foreground. SIGTERM/SIGINT (or EOF on stdin with
--exit-on-stdin-eof) stop the proxy child and exit 0; the child has PR_SET_PDEATHSIG=SIGKILL.

Real proxies:
  squid-basic   squid 5, `http_port 127.0.0.1:P`, Basic auth (basic_ncsa_auth, D/passwd made with
                htpasswd from --user/--password). Authenticated users may CONNECT to any port of
                127.0.0.0/8 (and send plain-HTTP requests there); anything else is 403. No
                credentials or wrong ones: 407 (`Proxy-Authenticate: Basic realm="proxy-lab"`).
                `--deny-host H`: CONNECT to H (a name, matched exactly) is 403 for an
                authenticated user (auth is checked first: 407 without credentials).
                `--host NAME=IP`: D/hosts, squid's hosts_file (DNS is 127.0.0.1, where nothing
                answers: a name not in D/hosts is 403 after ~3 s). Unreachable origin port: 503.
                No cache. D/access.log (squid native format:
                `time elapsed client TCP_TUNNEL/200 bytes CONNECT host:port user HIER_DIRECT/ip -`;
                the first line is the readiness probe, `error:transaction-end-before-headers`),
                D/cache.log, D/squid.conf, D/squid.pid. Run as root, squid runs as nobody (so D
                is chowned to nobody and its parents must be world-searchable, e.g. /tmp/...).
  squid-ntlm    the same with `auth_param ntlm`: the helper is this script (`ntlm-helper` mode) and
                the accepting side is pyspnego's NTLM server, credentials DOMAIN:USER:PASSWORD in
                D/ntlm_users (--user may be `DOMAIN\\user`; without a domain the client must send an
                empty domain, as curl --proxy-user U:P does). --also-basic adds Basic as a second
                scheme (second Proxy-Authenticate header).
  tinyproxy     tinyproxy without auth, every CONNECT port allowed, D/tinyproxy.log, D/tinyproxy.conf.
                Names resolve with the system resolver (there is no hosts file: use IPs).
                Unreachable origin port: 500.

Hostile proxies (Python sockets; every request head is appended to D/requests.log as JSON):
  silent            accepts, reads, never answers (holds the connection until the client closes).
  garbage-after-200 `HTTP/1.1 200 Connection established`, then 64 random bytes, then close.
  close-after-200   the same 200, then close.
  endless-headers   `HTTP/1.1 200 OK` then `X-Pad: ...` header lines forever (stops at 10 MB or 60 s).
  unknown-scheme    407 with only `Proxy-Authenticate: Kerberos-Special realm="x"` (keep-alive).
  ntlm-loop         407 `Proxy-Authenticate: NTLM`; to an NTLM NEGOTIATE a valid CHALLENGE
                    (`Proxy-Authenticate: NTLM <base64>`); to the AUTHENTICATE 407 `NTLM` again,
                    forever (keep-alive, so a client can loop on one connection).
  status STATUS     every request answered with STATUS (e.g. 403, 502; 407 adds
                    `Proxy-Authenticate: Basic realm="x"`); non-2xx keep-alive with a short body,
                    2xx then holds the connection open without sending anything.

Internal:
  ntlm-helper --relay 127.0.0.1:R   squid's NTLM helper (stateful protocol on stdin/stdout:
                `YR <type1>` -> `TT <type2>`, `KK <type3>` -> `AF <user>` | `NA <reason>`, errors
                `BH <reason>`). Squid runs it with /usr/bin/python3 as nobody when this script runs
                as root, where pyspnego (installed for root's Python) may not be importable, so the
                helper relays each line to this script's parent process (one TCP connection per
                helper process = one NTLM acceptor), which answers with pyspnego. Without --relay
                it imports spnego itself.
"""
import argparse
import base64
import ctypes
import json
import os
import pwd
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SQUID = shutil.which("squid") or "/usr/sbin/squid"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
NCSA_AUTH = "/usr/lib/squid/basic_ncsa_auth"
HOSTILE = ["silent", "garbage-after-200", "close-after-200", "endless-headers", "unknown-scheme", "ntlm-loop", "status"]
MODES = ["squid-basic", "squid-ntlm", "tinyproxy"] + HOSTILE + ["ntlm-helper"]
REALM = "proxy-lab"


def log(msg):
    print(f"proxy_lab: {msg}", file=sys.stderr, flush=True)


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def split_user(user):
    if "\\" in user:
        domain, name = user.split("\\", 1)
        return domain, name
    return "", user


# ---------------------------------------------------------------- NTLM acceptor (pyspnego)

class NtlmAcceptor:
    """Squid's NTLM helper protocol for one helper process: one line in, one line out."""

    def __init__(self):
        import spnego  # noqa: F401  (fail early, with the import error, if missing)
        self.spnego = spnego
        self.ctx = None

    def line(self, text):
        text = text.strip()
        cmd, _, blob = text.partition(" ")
        try:
            if cmd == "YR":
                if not blob:
                    return "BH squid sent YR without a NEGOTIATE token"
                self.ctx = self.spnego.server(protocol="ntlm")
                out = self.ctx.step(base64.b64decode(blob))
                return "TT " + base64.b64encode(out).decode()
            if cmd == "KK":
                if self.ctx is None:
                    return "BH KK before YR"
                token = base64.b64decode(blob)
                if len(token) >= 12 and token[8:12] == b"\x01\x00\x00\x00":
                    # a new NEGOTIATE on a connection squid thinks is mid-handshake: start over
                    self.ctx = self.spnego.server(protocol="ntlm")
                    return "TT " + base64.b64encode(self.ctx.step(token)).decode()
                self.ctx.step(token)
                if not self.ctx.complete:
                    return "BH handshake not complete after AUTHENTICATE"
                user = self.ctx.client_principal or "unknown"
                self.ctx = None
                return "AF " + user.replace(" ", "_")
            return f"BH unknown request {cmd!r}"
        except Exception as e:  # a wrong password raises here (spnego's SpnegoError/BadMIC/...)
            self.ctx = None
            reason = (str(e).splitlines() or ["failure"])[0].replace("\n", " ")[:200]
            return "NA " + (reason or type(e).__name__)


def ntlm_helper(args):
    """`ntlm-helper` mode, run by squid: stdin/stdout lines, relayed or handled here."""
    out = sys.stdout
    if args.relay:
        host, _, port = args.relay.rpartition(":")
        if not host.startswith("127."):
            sys.exit("ntlm-helper: --relay must be a loopback address")
        sock = socket.create_connection((host, int(port)))
        rf = sock.makefile("rb")
        for raw in sys.stdin.buffer:
            sock.sendall(raw.rstrip(b"\r\n") + b"\n")
            reply = rf.readline()
            if not reply:
                out.write("BH relay closed\n")
                out.flush()
                return
            out.write(reply.decode().rstrip("\r\n") + "\n")
            out.flush()
        return
    acceptor = NtlmAcceptor()
    for raw in sys.stdin:
        out.write(acceptor.line(raw) + "\n")
        out.flush()


def start_ntlm_relay(log_path):
    """A loopback TCP server (in this process, which can import spnego) for the helpers."""
    NtlmAcceptor()  # import check before squid starts
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    lock = threading.Lock()

    def serve(conn):
        acceptor = NtlmAcceptor()
        rf = conn.makefile("rb")
        with conn:
            for raw in rf:
                text = raw.decode().strip()
                reply = acceptor.line(text)
                with lock, open(log_path, "a") as f:
                    f.write(f"{time.time():.3f} {text[:2]} -> {reply[:2]} {reply[3:][:120] if reply[:2] != 'TT' else ''}\n")
                conn.sendall((reply + "\n").encode())

    def loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


# ---------------------------------------------------------------- real proxies

def unprivileged():
    """(uid, gid, name) to run the proxy as: the current user, or nobody when we are root."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid, pw.pw_name


def check_access_as(ids, path):
    """Whether the unprivileged user can write into path (its parents must be searchable)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
            os._exit(0 if os.access(path, os.W_OK | os.X_OK) else 1)
        except BaseException:
            os._exit(2)
    return os.waitpid(pid, 0)[1] == 0


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def squid_conf(args, d, relay_port):
    lines = [
        "# written by proxy_lab.py",
        f"http_port 127.0.0.1:{args.port}",
        "visible_hostname proxy-lab",
        f"pid_filename {d}/squid.pid",
        f"cache_log {d}/cache.log",
        f"access_log stdio:{d}/access.log squid",
        "cache_store_log none",
        "logfile_rotate 0",
        "buffered_logs off",
        "debug_options ALL,1",
        f"coredump_dir {d}",
        "netdb_filename none",
        "pinger_enable off",
        "cache deny all",
        "cache_mem 8 MB",
        "shutdown_lifetime 1 seconds",
        "dns_nameservers 127.0.0.1",
        "udp_incoming_address 127.0.0.1",
        "udp_outgoing_address 127.0.0.1",
        "dns_timeout 2 seconds",
        "dns_retransmit_interval 1 seconds",
        f"hosts_file {d}/hosts",
        "connect_timeout 5 seconds",
        "connect_retries 0",
        "forward_max_tries 1",
        "client_persistent_connections on",
        "max_filedescriptors 1024",
    ]
    basic = [
        f"auth_param basic program {NCSA_AUTH} {d}/passwd",
        "auth_param basic children 2 startup=1 idle=1",
        f"auth_param basic realm {REALM}",
        "auth_param basic casesensitive on",  # default off: squid lowercases the name for the helper
        "auth_param basic credentialsttl 5 seconds",
    ]
    if args.mode == "squid-ntlm":
        py = "/usr/bin/python3" if os.geteuid() == 0 and os.path.exists("/usr/bin/python3") else sys.executable
        lines += [
            f"auth_param ntlm program {py} {d}/ntlm_helper.py ntlm-helper --relay 127.0.0.1:{relay_port}",
            "auth_param ntlm children 4 startup=1 idle=1",
            "auth_param ntlm keep_alive on",
        ]
        if args.also_basic:
            lines += basic
    else:
        lines += basic
    lines += [
        "authenticate_ttl 5 seconds",
        "acl lab_users proxy_auth REQUIRED",
        "acl lab_net dst 127.0.0.0/8",
        "acl CONNECT method CONNECT",
    ]
    if args.deny_host:
        lines.append(f"acl lab_denied dstdomain -n {args.deny_host}")
    lines += ["http_access deny !lab_users"]
    if args.deny_host:
        lines.append("http_access deny CONNECT lab_denied")
    lines += [
        "http_access allow CONNECT lab_net lab_users",
        "http_access allow lab_net lab_users",
        "http_access deny all",
    ]
    return "\n".join(lines) + "\n"


def prepare_squid(args, d, ids):
    if not args.user or args.password is None:
        sys.exit("proxy_lab: squid modes need --user and --password")
    hosts = "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in args.host)
    write(os.path.join(d, "hosts"), hosts)
    relay_port = None
    if args.mode == "squid-ntlm":
        domain, name = split_user(args.user)
        write(os.path.join(d, "ntlm_users"), f"{domain}:{name}:{args.password}\n", 0o600)
        os.environ["NTLM_USER_FILE"] = os.path.join(d, "ntlm_users")
        shutil.copyfile(os.path.abspath(__file__), os.path.join(d, "ntlm_helper.py"))
        os.chmod(os.path.join(d, "ntlm_helper.py"), 0o644)
        relay_port = start_ntlm_relay(os.path.join(d, "ntlm_helper.log"))
    if args.mode == "squid-basic" or args.also_basic:
        r = subprocess.run(["htpasswd", "-b", "-c", "-m", os.path.join(d, "passwd"), args.user, args.password],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"proxy_lab: htpasswd failed: {r.stderr}")
        os.chmod(os.path.join(d, "passwd"), 0o644)
    conf = os.path.join(d, "squid.conf")
    write(conf, squid_conf(args, d, relay_port))
    r = subprocess.run([SQUID, "-k", "parse", "-f", conf], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"proxy_lab: squid -k parse failed:\n{r.stdout}{r.stderr}")
    return [SQUID, "-N", "-f", conf], os.path.join(d, "cache.log")


def prepare_tinyproxy(args, d, ids):
    conf = os.path.join(d, "tinyproxy.conf")
    write(conf, "\n".join([
        "# written by proxy_lab.py",
        f"Port {args.port}",
        "Listen 127.0.0.1",
        "Timeout 60",
        f"LogFile \"{d}/tinyproxy.log\"",
        "LogLevel Info",
        f"PidFile \"{d}/tinyproxy.pid\"",
        "MaxClients 50",
        "Allow 127.0.0.1",
        "DisableViaHeader Yes",
        "# no ConnectPort line: CONNECT to every port is allowed",
    ]) + "\n")
    return [TINYPROXY, "-d", "-c", conf], os.path.join(d, "tinyproxy.log")


def run_child(args, d, cmd, logpath):
    ids = unprivileged()
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec():
        if ids:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        # after the uid change: a credential change clears the parent-death signal
        libc.prctl(1, signal.SIGKILL)

    out = open(os.path.join(d, "stdout.log"), "w")
    t0 = time.time()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             preexec_fn=preexec, cwd=d)
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
        if child.poll() is None:
            # squid needs ~3 s for a graceful stop even with shutdown_lifetime 1 (it closes
            # its listening port at once); nothing here is worth waiting for
            child.terminate()
            signal.alarm(1)
        else:
            sys.exit(0)

    def on_alarm(signum, frame):
        if child.poll() is None:
            child.kill()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    watch_stdin(args)
    deadline = time.time() + 15
    while not can_connect(args.port):
        if child.poll() is not None:
            sys.exit(f"proxy_lab: {cmd[0]} exited {child.returncode}:\n" + tail(logpath) + tail(out.name))
        if time.time() > deadline:
            child.kill()
            sys.exit(f"proxy_lab: {cmd[0]} did not listen within 15 s:\n" + tail(logpath))
        time.sleep(0.02)
    write(os.path.join(d, "ready.json"), json.dumps({"port": args.port, "mode": args.mode, "pid": child.pid,
                                                       "start_s": round(time.time() - t0, 3)}) + "\n")
    print(f"ready {args.port}", flush=True)
    code = child.wait()
    if stopping:
        sys.exit(0)
    log(f"{cmd[0]} exited by itself ({code}):\n" + tail(logpath))
    sys.exit(1)


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def watch_stdin(args):
    if not args.exit_on_stdin_eof:
        return

    def watch():
        try:
            sys.stdin.buffer.read()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


# ---------------------------------------------------------------- hostile proxies

def ntlm_challenge():
    """A syntactically valid NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) with target info."""
    def utf16(s):
        return s.encode("utf-16-le")

    filetime = int((time.time() + 11644473600) * 10_000_000)
    av = b""
    for av_id, value in ((2, utf16("LAB")), (1, utf16("PROXYLAB")), (4, utf16("lab.test")),
                         (3, utf16("proxylab.lab.test")), (5, utf16("lab.test")), (7, struct.pack("<Q", filetime))):
        av += struct.pack("<HH", av_id, len(value)) + value
    av += struct.pack("<HH", 0, 0)
    target = utf16("LAB")
    flags = (0x00000001 | 0x00000004 | 0x00000200 | 0x00008000 | 0x00010000 | 0x00080000
             | 0x00800000 | 0x02000000 | 0x20000000 | 0x80000000)
    header_len = 56
    version = struct.pack("<BBH3xB", 10, 0, 19041, 15)
    msg = (b"NTLMSSP\0" + struct.pack("<I", 2)
           + struct.pack("<HHI", len(target), len(target), header_len)
           + struct.pack("<I", flags) + os.urandom(8) + b"\0" * 8
           + struct.pack("<HHI", len(av), len(av), header_len + len(target))
           + version + target + av)
    return base64.b64encode(msg).decode()


def read_head(conn, buf):
    """One request head from conn (buf holds bytes already read); (head or None, rest)."""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        buf += chunk
        if len(buf) > 1 << 20:
            return None, b""
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def header(head, name):
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def serve_hostile(args, d):
    status = None
    if args.mode == "status":
        if not args.status or not args.status.isdigit():
            sys.exit("proxy_lab: status mode needs a numeric STATUS")
        status = int(args.status)
    reasons = {200: "Connection established", 403: "Forbidden", 404: "Not Found", 407: "Proxy Authentication Required",
               500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    reqlog = os.path.join(d, "requests.log")
    lock = threading.Lock()

    def record(peer, head):
        with lock, open(reqlog, "a") as f:
            f.write(json.dumps({"t": round(time.time(), 3), "peer": f"{peer[0]}:{peer[1]}", "mode": args.mode,
                                "request_line": head.split("\r\n")[0],
                                "proxy_authorization": header(head, "Proxy-Authorization")}) + "\n")

    def reply407(conn, headers):
        body = b"proxy authentication required\n"
        conn.sendall(("HTTP/1.1 407 Proxy Authentication Required\r\n" + "".join(f"{h}\r\n" for h in headers)
                      + f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)

    def hold(conn, limit=300):
        conn.settimeout(limit)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def handle(conn, peer):
        buf = b""
        with conn:
            while True:
                head, buf = read_head(conn, buf)
                if head is None:
                    return
                record(peer, head)
                m = args.mode
                if m == "silent":
                    hold(conn)
                    return
                if m in ("garbage-after-200", "close-after-200"):
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if m == "garbage-after-200":
                        conn.sendall(os.urandom(64))
                    return
                if m == "endless-headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    sent, start, n = 0, time.time(), 0
                    try:
                        while sent < 10 * 1024 * 1024 and time.time() - start < 60:
                            line = f"X-Pad: {n:08d} {'p' * 64}\r\n".encode()
                            conn.sendall(line)
                            sent += len(line)
                            n += 1
                    except OSError:
                        pass
                    return
                if m == "unknown-scheme":
                    reply407(conn, ['Proxy-Authenticate: Kerberos-Special realm="x"'])
                    continue
                if m == "ntlm-loop":
                    auth = header(head, "Proxy-Authorization") or ""
                    scheme, _, token = auth.partition(" ")
                    msg_type = None
                    if scheme.lower() == "ntlm" and token:
                        try:
                            raw = base64.b64decode(token.strip())
                            if raw[:8] == b"NTLMSSP\0":
                                msg_type = struct.unpack("<I", raw[8:12])[0]
                        except Exception:
                            pass
                    if msg_type == 1:
                        reply407(conn, ["Proxy-Authenticate: NTLM " + ntlm_challenge(), "Proxy-Connection: keep-alive"])
                    else:
                        reply407(conn, ["Proxy-Authenticate: NTLM", "Proxy-Connection: keep-alive"])
                    continue
                if m == "status":
                    reason = reasons.get(status, "Lab Status")
                    if 200 <= status < 300:
                        conn.sendall(f"HTTP/1.1 {status} {reason}\r\n\r\n".encode())
                        hold(conn)
                        return
                    body = f"{status} {reason} (proxy_lab)\n".encode()
                    extra = 'Proxy-Authenticate: Basic realm="x"\r\n' if status == 407 else ""
                    conn.sendall((f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain\r\n"
                                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
                    continue
                return

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    signal.signal(signal.SIGINT, lambda s, f: os._exit(0))
    watch_stdin(args)
    print(f"ready {args.port}", flush=True)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=handle, args=(conn, peer), daemon=True).start()


# ---------------------------------------------------------------- main

def main():
    # Started by Foundation's Process, which may leave SIGTERM blocked: unblock it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGALRM])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("status", nargs="?", help="the status code of the `status` mode")
    ap.add_argument("--port", type=int)
    ap.add_argument("--dir")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--deny-host")
    ap.add_argument("--host", action="append", default=[], metavar="NAME=IP",
                    help="squid's hosts_file entry (repeatable); IP must be 127.x")
    ap.add_argument("--also-basic", action="store_true", help="squid-ntlm: offer Basic too")
    ap.add_argument("--relay", help="ntlm-helper: 127.0.0.1:PORT of the parent's pyspnego relay")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin reaches EOF (the test process is gone)")
    args = ap.parse_args()
    if args.mode == "ntlm-helper":
        return ntlm_helper(args)
    if not args.port or not args.dir:
        ap.error("--port and --dir are required")
    hosts = []
    for item in args.host:
        name, sep, ip = item.partition("=")
        if not sep or not ip.startswith("127."):
            ap.error(f"--host {item}: want NAME=127.x.y.z")
        hosts.append((name, ip))
    args.host = hosts
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    for name in ("access.log", "cache.log", "squid.pid", "squid.conf", "tinyproxy.log", "tinyproxy.pid",
                 "requests.log", "ntlm_helper.log", "stdout.log", "ready.json"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            os.remove(p)
    if args.mode in HOSTILE:
        return serve_hostile(args, d)
    ids = unprivileged()
    if ids:
        os.chown(d, ids[0], ids[1])
        if not check_access_as(ids, d):
            sys.exit(f"proxy_lab: {d} is not writable by {ids[2]} (the proxy runs as {ids[2]} when started "
                     "as root): use a directory whose parents are world-searchable, e.g. under /tmp")
    if args.mode == "tinyproxy":
        cmd, logpath = prepare_tinyproxy(args, d, ids)
    else:
        cmd, logpath = prepare_squid(args, d, ids)
    run_child(args, d, cmd, logpath)


if __name__ == "__main__":
    main()
