#!/usr/bin/env python3
"""An OpenLDAP slapd of its own on loopback, for the `ldap` tests.

usage: ldap_lab.py --dir DIR --ldap-port P [--ldaps-port P2] [--cert F --key F [--ca F]]
                   [--no-tls] [--ppolicy] [--no-ppolicy-use-lockout] [--base dc=example,dc=com]
                   [--explicit-policy] [--clock-offset SECONDS] [--host 127.0.0.1] [--ready-file F]
                   [--global LINE ...] [--database LINE ...]

Everything lives in DIR (made if missing, emptied of an earlier run's files): slapd.conf
(run with `slapd -f`, never the system's /etc/ldap/slapd.d; only the stock schema files under
/etc/ldap/schema are read), the mdb database loaded with slapadd from DIR/data.ldif, and
DIR/slapd.log: slapd runs in the foreground with `-d stats`, so the log has one
`conn=N op=M BIND dn="..." method=128` line per bind that reached the server (and
`ACCEPT`, `STARTTLS`, `TLS established` / `closed (TLS negotiation failure)` lines).

Variants:
  --cert/--key [--ca]   TLS: LDAPS on --ldaps-port and StartTLS on --ldap-port (slapd offers
                        StartTLS on ldap:// whenever TLS is configured). --ca is the
                        TLSCACertificateFile (the chain slapd may send); default none.
  --no-tls (or no --cert) ldap:// only, no TLS at all: StartTLS is refused, the RootDSE
                        lists no 1.3.6.1.4.1.1466.20037.
  --ppolicy             the ppolicy overlay (moduleload ppolicy.la; its schema is built into the
                        module in 2.5) with a default policy and the accounts below; without it
                        the same entries are loaded but no policy is enforced.

Entries (BASE default dc=example,dc=com; every password is Lab-Pass-1! except where noted):
  cn=admin,BASE                    rootdn, password Admin-Lab-Pass-1!
  uid=svc-sync,ou=people,BASE      service account, Svc-Sync-Pass-1!, policy cn=service (no expiry)
  uid=svc-aging,ou=people,BASE     default policy, password set now: expires in 90 days
  uid=pwwarn,ou=people,BASE        expires in 14 days (pwdChangedTime 76 days ago)
  uid=pwexpiring,ou=people,BASE    expires in 5 days (pwdChangedTime 85 days ago)
  uid=pwexpired,ou=people,BASE     expired (pwdChangedTime 100 days ago, no grace logins)
  uid=pwgrace,ou=people,BASE       expired 10 days ago under policy cn=grace: binds succeed with
                                   ppolicy's graceAuthNsRemaining (5 grace binds, each one used up)
  uid=mustchange,ou=people,BASE    pwdReset TRUE (pwdMustChange in the policy)
  uid=locked,ou=people,BASE        pwdAccountLockedTime 000001010000Z (locked until an admin unlocks)
  uid=lockme,ou=people,BASE        healthy; 3 wrong binds (pwdMaxFailure) lock it for good
  uid=mailuser,ou=people,BASE      mail: user@example.com (inetOrgPerson)
  uid=user2,ou=people,BASE         mail: second@example.com
--clock-offset N       slapd runs under faketime with its clock N seconds ahead (negative: behind):
                        cn=Current,cn=Time,cn=Monitor (OpenLDAP has no RootDSE currentTime) shows it.

Default policy cn=default,ou=policies,BASE: pwdMaxAge 90 d, pwdExpireWarning 30 d, pwdLockout
TRUE, pwdMaxFailure 3, pwdLockoutDuration 0, pwdMustChange TRUE, pwdGraceAuthnLimit 0.
Access: anyone may read the RootDSE and bind; bound users read everything but userPassword
(so an account reads its own pwdChangedTime, pwdAccountLockedTime, pwdPolicySubentry and the
policy entry's pwdMaxAge).

Ready: when every listener accepts connections the script prints `READY {json}` (URLs, base,
accounts, log path, timings) on stdout and writes the same JSON to --ready-file (default
DIR/ready.json). SIGTERM/SIGINT stop slapd and exit 0; SIGKILL of this script kills slapd too
(PR_SET_PDEATHSIG).
"""
import argparse
import base64
import ctypes
import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

PASSWORD = "Lab-Pass-1!"
SERVICE_PASSWORD = "Svc-Sync-Pass-1!"
ADMIN_PASSWORD = "Admin-Lab-Pass-1!"
MAX_AGE_DAYS = 90
WARN_DAYS = 30
MAX_FAILURE = 3
GRACE_LOGINS = 5
SCHEMAS = ["core", "cosine", "inetorgperson"]
DAY = 86400
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def ssha(password):
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def gtime(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def accounts(now):
    """name -> (password, extra LDIF lines, description, expected bind outcome)"""
    changed = lambda days: [f"pwdChangedTime: {gtime(now - days * DAY)}"]
    return {
        "svc-sync": (SERVICE_PASSWORD, ["pwdPolicySubentry: cn=service,ou=policies,{base}"] + changed(400),
                     "service account, policy cn=service (pwdMaxAge 0: never expires)", "success"),
        "svc-aging": (PASSWORD, changed(0), f"default policy, password set now: expires in {MAX_AGE_DAYS} days", "success"),
        "pwwarn": (PASSWORD, changed(MAX_AGE_DAYS - 14), "password expires in 14 days", "success + ppolicy timeBeforeExpiration"),
        "pwexpiring": (PASSWORD, changed(MAX_AGE_DAYS - 5), "password expires in 5 days", "success + ppolicy timeBeforeExpiration"),
        "pwexpired": (PASSWORD, changed(MAX_AGE_DAYS + 10), "password expired 10 days ago", "49 + ppolicy passwordExpired"),
        "pwgrace": (PASSWORD, ["pwdPolicySubentry: cn=grace,ou=policies,{base}"] + changed(MAX_AGE_DAYS + 10),
                    f"password expired 10 days ago, policy cn=grace ({GRACE_LOGINS} grace binds)",
                    "success + ppolicy graceAuthNsRemaining"),
        "mustchange": (PASSWORD, changed(1) + ["pwdReset: TRUE"], "pwdReset TRUE: must change", "success + ppolicy changeAfterReset"),
        "locked": (PASSWORD, changed(1) + ["pwdAccountLockedTime: 000001010000Z"], "locked by an administrator", "49 + ppolicy accountLocked"),
        "lockme": (PASSWORD, changed(1), f"healthy; {MAX_FAILURE} wrong binds lock it", "success"),
        "mailuser": (PASSWORD, ["mail: user@example.com"] + changed(1), "mailbox user@example.com", "success"),
        "user2": (PASSWORD, ["mail: second@example.com"] + changed(1), "mailbox second@example.com", "success"),
    }


def dc_value(base):
    first = base.split(",")[0]
    return first.split("=", 1)[1]


def write_ldif(path, base, now, ppolicy, explicit_policy):
    lines = [
        f"dn: {base}", "objectClass: dcObject", "objectClass: organization", f"dc: {dc_value(base)}", "o: ewsprobe lab", "",
        f"dn: cn=admin,{base}", "objectClass: organizationalRole", "objectClass: simpleSecurityObject", "cn: admin",
        f"userPassword: {ssha(ADMIN_PASSWORD)}", "",
        f"dn: ou=people,{base}", "objectClass: organizationalUnit", "ou: people", "",
        f"dn: ou=policies,{base}", "objectClass: organizationalUnit", "ou: policies", "",
    ]
    if ppolicy:
        lines += [
            f"dn: cn=default,ou=policies,{base}", "objectClass: device", "objectClass: pwdPolicy", "cn: default",
            "pwdAttribute: userPassword", f"pwdMaxAge: {MAX_AGE_DAYS * DAY}", f"pwdExpireWarning: {WARN_DAYS * DAY}",
            "pwdLockout: TRUE", f"pwdMaxFailure: {MAX_FAILURE}", "pwdLockoutDuration: 0", "pwdFailureCountInterval: 0",
            "pwdMustChange: TRUE", "pwdGraceAuthnLimit: 0", "pwdAllowUserChange: TRUE", "pwdInHistory: 0", "",
            f"dn: cn=grace,ou=policies,{base}", "objectClass: device", "objectClass: pwdPolicy", "cn: grace",
            "pwdAttribute: userPassword", f"pwdMaxAge: {MAX_AGE_DAYS * DAY}", f"pwdGraceAuthnLimit: {GRACE_LOGINS}", "",
            f"dn: cn=service,ou=policies,{base}", "objectClass: device", "objectClass: pwdPolicy", "cn: service",
            "pwdAttribute: userPassword", "pwdMaxAge: 0", "pwdLockout: FALSE", "pwdMustChange: FALSE", "",
        ]
    for name, (password, extra, _, _) in accounts(now).items():
        lines += [f"dn: uid={name},ou=people,{base}", "objectClass: inetOrgPerson", f"uid: {name}", f"cn: {name}",
                  f"sn: {name}", f"userPassword: {ssha(password)}"]
        lines += [x.format(base=base) for x in extra if ppolicy or not x.startswith(("pwd",))]
        if ppolicy and explicit_policy and not any(x.startswith("pwdPolicySubentry:") for x in extra):
            lines.append(f"pwdPolicySubentry: cn=default,ou=policies,{base}")
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_conf(args, d):
    tls = ""
    if args.cert and not args.no_tls:
        tls = f"TLSCertificateFile {os.path.abspath(args.cert)}\nTLSCertificateKeyFile {os.path.abspath(args.key)}\n"
        if args.ca:
            tls += f"TLSCACertificateFile {os.path.abspath(args.ca)}\n"
        tls += "TLSVerifyClient never\n"
    modules = "moduleload back_mdb.la\n" + ("moduleload ppolicy.la\n" if args.ppolicy else "")
    overlay = ""
    if args.ppolicy:
        overlay = (f"overlay ppolicy\nppolicy_default \"cn=default,ou=policies,{args.base}\"\n"
                   + ("ppolicy_use_lockout\n" if args.ppolicy_use_lockout else ""))
    schema = "".join(f"include /etc/ldap/schema/{s}.schema\n" for s in SCHEMAS)
    extra_global = "".join(line + "\n" for line in args.global_line)
    extra_db = "".join(line + "\n" for line in args.database_line)
    conf = f"""# written by ldap_lab.py
{schema}
modulepath /usr/lib/ldap
{modules}
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
loglevel stats
{tls}{extra_global}
database mdb
maxsize 104857600
suffix "{args.base}"
rootdn "cn=admin,{args.base}"
rootpw {ssha(ADMIN_PASSWORD)}
directory {d}/db
index objectClass eq
index mail,uid eq
access to attrs=userPassword
    by self =xw
    by anonymous auth
    by * none
access to *
    by users read
    by anonymous auth
{overlay}{extra_db}
database monitor
"""
    path = os.path.join(d, "slapd.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def can_connect(host, port):
    try:
        socket.create_connection((host, port), 0.2).close()
        return True
    except OSError:
        return False


def main():
    # Started by Foundation's Process, which may leave SIGTERM blocked: unblock it for this
    # process and the server it starts, so a stop request is seen.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGALRM])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ldap-port", type=int, required=True)
    ap.add_argument("--ldaps-port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca")
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--ppolicy", action="store_true")
    ap.add_argument("--no-ppolicy-use-lockout", dest="ppolicy_use_lockout", action="store_false",
                    help="do not put accountLocked in the ppolicy response (slapd's default)")
    ap.add_argument("--explicit-policy", action="store_true",
                    help="give every account a pwdPolicySubentry (else only svc-sync has one; the others use ppolicy_default, "
                         "which a client cannot read)")
    ap.add_argument("--base", default="dc=example,dc=com")
    ap.add_argument("--clock-offset", type=int, default=0,
                    help="run slapd with its clock this many seconds off (faketime), for clock-skew tests")
    ap.add_argument("--ready-file")
    ap.add_argument("--global", dest="global_line", action="append", default=[], help="an extra global slapd.conf line")
    ap.add_argument("--database", dest="database_line", action="append", default=[], help="an extra line in the mdb database")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin reaches EOF (the test process is gone)")
    args = ap.parse_args()
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    if args.ldaps_port and (args.no_tls or not args.cert):
        ap.error("--ldaps-port needs --cert/--key (and not --no-tls)")
    if not args.host.startswith("127."):
        ap.error("--host must be a loopback address")

    t0 = time.time()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    for name in ("db", "slapd.log", "slapd.pid", "slapd.args", "data.ldif", "slapd.conf"):
        p = os.path.join(d, name)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    ready = args.ready_file or os.path.join(d, "ready.json")
    if os.path.exists(ready):
        os.remove(ready)
    os.makedirs(os.path.join(d, "db"))
    now = time.time()
    conf = write_conf(args, d)
    ldif = os.path.join(d, "data.ldif")
    write_ldif(ldif, args.base, now, args.ppolicy, args.explicit_policy)
    r = subprocess.run(["slaptest", "-u", "-f", conf], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"ldap_lab: slaptest failed:\n{r.stdout}{r.stderr}")
    r = subprocess.run(["slapadd", "-q", "-f", conf, "-l", ldif], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"ldap_lab: slapadd failed:\n{r.stdout}{r.stderr}")
    t1 = time.time()

    urls = [f"ldap://{args.host}:{args.ldap_port}/"]
    ports = [args.ldap_port]
    if args.ldaps_port:
        urls.append(f"ldaps://{args.host}:{args.ldaps_port}/")
        ports.append(args.ldaps_port)
    libc = ctypes.CDLL(None, use_errno=True)
    logpath = os.path.join(d, "slapd.log")
    logf = open(logpath, "w")
    env = dict(os.environ)
    if args.clock_offset:
        # libfaketime preloaded into slapd itself (the `faketime` wrapper forks and does not
        # pass signals on)
        env.update(LD_PRELOAD=FAKETIME_LIB, FAKETIME=f"{args.clock_offset:+d}", FAKETIME_DONT_RESET="1")
    child = subprocess.Popen(["slapd", "-d", "stats", "-f", conf, "-h", " ".join(urls)], env=env,
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))
    stopping = []

    def on_signal(signum, frame):
        # only signal the child: the main thread may be inside child.wait()
        stopping.append(signum)
        if child.poll() is None:
            child.terminate()
            signal.alarm(5)
        else:
            sys.exit(0)

    def on_alarm(signum, frame):
        if child.poll() is None:
            child.kill()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    if args.exit_on_stdin_eof:
        # The test process holds the other end: when it exits, however it exits, the lab stops.
        def watch_stdin():
            try:
                sys.stdin.buffer.read()
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch_stdin, daemon=True).start()
    deadline = time.time() + 15
    while not all(can_connect(args.host, p) for p in ports):
        if child.poll() is not None:
            sys.exit(f"ldap_lab: slapd exited {child.returncode}:\n" + open(logpath).read())
        if time.time() > deadline:
            child.kill()
            sys.exit("ldap_lab: slapd did not listen within 15 s:\n" + open(logpath).read())
        time.sleep(0.02)
    t2 = time.time()
    info = {
        "ldap": urls[0].rstrip("/"), "ldaps": urls[1].rstrip("/") if args.ldaps_port else None,
        "host": args.host, "base": args.base, "tls": bool(args.cert and not args.no_tls), "ppolicy": args.ppolicy,
        "log": logpath, "pid": child.pid, "conf": conf,
        "admin": {"dn": f"cn=admin,{args.base}", "password": ADMIN_PASSWORD},
        "accounts": {n: {"dn": f"uid={n},ou=people,{args.base}", "password": p, "state": s, "bind": b}
                     for n, (p, _, s, b) in accounts(now).items()},
        "timings": {"setup_s": round(t1 - t0, 3), "start_s": round(t2 - t1, 3)},
    }
    text = json.dumps(info, sort_keys=True)
    with open(ready + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(ready + ".tmp", ready)
    print("READY " + text, flush=True)
    code = child.wait()
    if stopping:
        sys.exit(0)
    print(f"ldap_lab: slapd exited by itself ({code})", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
