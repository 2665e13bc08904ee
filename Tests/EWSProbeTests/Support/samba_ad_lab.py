#!/usr/bin/env python3
"""Samba as a real Active Directory domain controller on one loopback address, for the `ldap` tests.

usage: samba_ad_lab.py --dir DIR [--ip 127.0.0.11] [--cert F --key F [--ca F]]
                       [--clock-offset SECONDS] [--ready-file F] [--option 'smb.conf key = value' ...]
                       [--provision-only]

DIR is a cache: the domain is provisioned into DIR/dc once (15-25 s on 2 cores: `samba-tool
domain provision`, the accounts below, a first start that makes Samba's self-signed certificate
and locks out `locked`) and reused by every later start whose stamp matches
(DIR/stamp: this script's LAB_VERSION, Samba's version, realm, domain, host name). A start only
rewrites DIR/dc/etc/smb.conf (address, TLS, logging), sets the password again on the accounts whose
state depends on the clock (password age), checks that `locked` is still locked out, and runs
`samba -i -M single` as a child in the foreground. One process at a time per DIR (flock on
DIR/lock; a second start fails at once with exit 75).

Samba's LDAP server listens on 389 (StartTLS, simple bind refused without TLS: result 8) and 636
(LDAPS), on --ip only (any 127.x.y.z works without configuring lo; `interfaces = IP/8` with
`bind interfaces only`). Only the `ldap` service runs (no smbd, KDC, DNS, winbindd).

Ready: when 636 and 389 accept connections and the accounts are in place, the script prints one
line `READY {json}` on stdout and writes the same JSON to --ready-file (default DIR/ready.json):
addresses, the CA that signed the server certificate, the accounts and their passwords.
SIGTERM/SIGINT stop Samba and exit 0; if this script is SIGKILLed, Samba gets SIGKILL too
(PR_SET_PDEATHSIG) and its stdin pipe closes (samba -i exits on EOF).

--clock-offset N runs samba under faketime with its clock N seconds ahead (negative: behind), so
the RootDSE's currentTime is off by N (clock-skew tests; password ages shift by N too).

Samba's own log (auth_audit:3: one `Auth: [LDAP,simple bind/TLS] user [...]` line per bind that
reached the server) is DIR/samba.log, truncated at each start.

Needs the Debian packages samba, samba-ad-provision, samba-ad-dc (samba-tool, the AD schema),
ldb-tools (ldbmodify, for proxyAddresses), ldap-utils (ldapsearch, used to lock the `locked` account by failing binds) and faketime (to
create accounts whose password was set in the past: pwdLastSet cannot be written directly).
"""
import argparse
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

LAB_VERSION = "2"
REALM = "EXAMPLE.COM"
DOMAIN = "EXAMPLE"
HOST = "dc1"
BASE = "DC=example,DC=com"
ADMIN_PASSWORD = "Admin-Lab-Pass-1!"
SERVICE_PASSWORD = "Svc-Sync-Pass-1!"
PASSWORD = "Lab-Pass-1!"
MAX_PWD_AGE_DAYS = 42  # the provisioned domain's default maxPwdAge
LOCKOUT_THRESHOLD = 3
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

# name: (password, what it is, the bind result with the right password)
ACCOUNTS = {
    "svc-sync": (SERVICE_PASSWORD, "healthy service account, password never expires (DONT_EXPIRE_PASSWORD)", "success"),
    "svc-aging": (PASSWORD, f"healthy, password set now, expires in {MAX_PWD_AGE_DAYS} days (domain maxPwdAge)", "success"),
    "pwwarn": (PASSWORD, "password expires in 14 days (set 28 days ago)", "success"),
    "pwexpiring": (PASSWORD, "password expires in 5 days (set 37 days ago)", "success"),
    "pwexpired": (PASSWORD, "password expired 18 days ago (set 60 days ago)", "data 532"),
    "mustchange": (PASSWORD, "must change password at next logon (pwdLastSet 0)", "data 773"),
    "disabled": (PASSWORD, "account disabled (ACCOUNTDISABLE)", "data 533"),
    "acctexpired": (PASSWORD, "account expired (accountExpires in the past)", "data 701"),
    "locked": (PASSWORD, f"locked out by {LOCKOUT_THRESHOLD} failed binds (PSO lockout-lab: duration 99999 min)", "data 775"),
    "lockme": (PASSWORD, f"healthy; {LOCKOUT_THRESHOLD} wrong binds lock it (PSO lockout-lab); unlocked at each start", "success"),
    "mailuser": (PASSWORD, "mailbox: mail user@example.com, proxyAddresses SMTP:user@example.com, smtp:alias@example.com", "success"),
}
# accounts whose password age is relative to now: re-created at each start (days in the past)
AGED = {"svc-aging": 0, "pwwarn": MAX_PWD_AGE_DAYS - 14, "pwexpiring": MAX_PWD_AGE_DAYS - 5, "pwexpired": 60}


def log(msg):
    print(f"samba_ad_lab: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, faketime=None, **kw):
    if faketime is not None and faketime != 0:
        cmd = ["faketime", "-f", f"-{faketime}d"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"samba_ad_lab: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def clock_env(offset):
    """The environment for a server whose clock is `offset` seconds off: libfaketime preloaded
    into the server itself (the `faketime` wrapper forks and does not pass signals on)."""
    env = dict(os.environ)
    if offset:
        env["LD_PRELOAD"] = FAKETIME_LIB
        env["FAKETIME"] = f"{offset:+d}"
        env["FAKETIME_DONT_RESET"] = "1"
        # ldb loads its modules (rootdse.so, which answers currentTime) with RTLD_DEEPBIND,
        # which bypasses LD_PRELOAD; Samba's own switch for preload wrappers turns that off
        env["LDB_MODULES_DISABLE_DEEPBIND"] = "1"
    return env


def samba_version():
    return run(["samba", "-V"]).stdout.strip()


def stamp_text():
    return f"{LAB_VERSION}|{samba_version()}|{REALM}|{DOMAIN}|{HOST}\n"


class Lab:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.dc = os.path.join(self.dir, "dc")
        self.conf = os.path.join(self.dc, "etc", "smb.conf")
        self.sam = os.path.join(self.dc, "private", "sam.ldb")
        self.logfile = os.path.join(self.dir, "samba.log")
        self.ip = args.ip
        self.child = None

    # -- provisioning (cached) ------------------------------------------------------------
    def tool(self, *argv, faketime=None, check=True):
        return run(["samba-tool", *argv, "-H", self.sam], faketime=faketime, check=check)

    def provision(self):
        t0 = time.time()
        shutil.rmtree(self.dc, ignore_errors=True)
        os.makedirs(self.dc)
        run([
            "samba-tool", "domain", "provision", "--use-rfc2307", f"--realm={REALM}", f"--domain={DOMAIN}",
            f"--host-name={HOST}", "--server-role=dc", "--dns-backend=NONE", f"--adminpass={ADMIN_PASSWORD}",
            f"--targetdir={self.dc}", f"--host-ip={self.ip}",
            # everything the provision writes into smb.conf stays in the target dir
            f"--option=log file = {self.dc}/log/log.%m", f"--option=pid directory = {self.dc}/run",
            f"--option=ncalrpc dir = {self.dc}/run/ncalrpc", f"--option=winbindd socket directory = {self.dc}/run/winbindd",
            f"--option=ntp signd socket directory = {self.dc}/run/ntp_signd", "--option=server services = ldap",
        ])
        t1 = time.time()
        # Lockout only for `locked` and `lockme` (a PSO): the domain's threshold stays 0, so wrong
        # passwords in the tests never lock the service account or the others.
        self.tool("domain", "passwordsettings", "pso", "create", "lockout-lab", "1",
                  f"--account-lockout-threshold={LOCKOUT_THRESHOLD}", "--account-lockout-duration=99999",
                  "--reset-account-lockout-after=99999")
        self.tool("user", "create", "svc-sync", SERVICE_PASSWORD, "--mail-address=svc-sync@example.com",
                  "--description=ewsprobe lab service account")
        self.tool("user", "setexpiry", "svc-sync", "--noexpiry")
        self.tool("user", "create", "mustchange", PASSWORD, "--must-change-at-next-login")
        self.tool("user", "create", "disabled", PASSWORD)
        self.tool("user", "disable", "disabled")
        self.tool("user", "create", "acctexpired", PASSWORD)
        self.tool("user", "setexpiry", "acctexpired", "--days=0")
        self.tool("user", "create", "locked", PASSWORD)
        self.tool("user", "create", "lockme", PASSWORD)
        self.tool("domain", "passwordsettings", "pso", "apply", "lockout-lab", "locked")
        self.tool("domain", "passwordsettings", "pso", "apply", "lockout-lab", "lockme")
        self.tool("user", "create", "mailuser", PASSWORD, "--mail-address=user@example.com",
                  "--given-name=Mail", "--surname=User", "--use-username-as-cn")
        ldif = os.path.join(self.dir, "proxyaddresses.ldif")
        with open(ldif, "w") as f:
            f.write(f"dn: CN=mailuser,CN=Users,{BASE}\nchangetype: modify\nadd: proxyAddresses\n"
                    "proxyAddresses: SMTP:user@example.com\nproxyAddresses: smtp:alias@example.com\n")
        run(["ldbmodify", "-H", self.sam, ldif])
        t2 = time.time()
        log(f"provisioned in {t1 - t0:.1f} s, base accounts in {t2 - t1:.1f} s")
        return t1 - t0, t2 - t1

    def refresh_aged(self):
        """Unlocks `lockme`, and sets the password again, with the clock set back, on the accounts whose password age
        is relative to today (pwdLastSet is written by Samba from the clock and cannot be
        written directly; faketime sets that clock back). An administrator's reset is not
        subject to the password history."""
        ldif = os.path.join(self.dir, "unlock.ldif")
        with open(ldif, "w") as f:
            f.write(f"dn: CN=lockme,CN=Users,{BASE}\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n")
        run(["ldbmodify", "-H", self.sam, ldif])
        for name, days in AGED.items():
            r = self.tool("user", "setpassword", name, f"--newpassword={ACCOUNTS[name][0]}", faketime=days, check=False)
            if r.returncode != 0:
                self.tool("user", "create", name, ACCOUNTS[name][0], faketime=days)

    # -- smb.conf, regenerated at every start ---------------------------------------------
    def write_conf(self, own_cert=True):
        tls = ""
        if self.args.cert and own_cert:
            tlsdir = os.path.join(self.dir, "tls")
            os.makedirs(tlsdir, exist_ok=True)
            for src, dst in ((self.args.cert, "cert.pem"), (self.args.key, "key.pem"), (self.args.ca or self.args.cert, "ca.pem")):
                shutil.copyfile(src, os.path.join(tlsdir, dst))
            os.chmod(os.path.join(tlsdir, "key.pem"), 0o600)  # Samba refuses a key others can read
            tls = (f"\ttls certfile = {tlsdir}/cert.pem\n\ttls keyfile = {tlsdir}/key.pem\n"
                   f"\ttls cafile = {tlsdir}/ca.pem\n")
        extra = "".join(f"\t{o}\n" for o in self.args.option)
        d = self.dc
        with open(self.conf, "w") as f:
            f.write(f"""# written by samba_ad_lab.py at every start
[global]
\tnetbios name = {HOST.upper()}
\trealm = {REALM}
\tworkgroup = {DOMAIN}
\tserver role = active directory domain controller
\tserver services = ldap
\tinterfaces = {self.ip}/8
\tbind interfaces only = yes
\tidmap_ldb:use rfc2307 = yes
\tprivate dir = {d}/private
\tstate directory = {d}/state
\tcache directory = {d}/cache
\tlock directory = {d}
\tbinddns dir = {d}/bind-dns
\tpid directory = {d}/run
\tncalrpc dir = {d}/run/ncalrpc
\twinbindd socket directory = {d}/run/winbindd
\tntp signd socket directory = {d}/run/ntp_signd
\tlog file = {d}/log/log.%m
\tlog level = 1 auth_audit:3
\ttls enabled = yes
{tls}{extra}
[sysvol]
\tpath = {d}/state/sysvol
\tread only = No

[netlogon]
\tpath = {d}/state/sysvol/example.com/scripts
\tread only = No
""")
        for sub in ("run", "log", "cache"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)

    # -- the server -------------------------------------------------------------------------
    def check_ports_free(self):
        busy = [p for p in (389, 636) if self.can_connect(p)]
        if busy:
            # Samba would log the bind failure and run on, and the readiness wait would then
            # talk to whatever already listens there
            raise SystemExit(f"samba_ad_lab: {self.ip} port(s) {busy} already in use: choose another --ip")

    def start(self):
        self.check_ports_free()
        libc = ctypes.CDLL(None, use_errno=True)

        def die_with_parent():
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

        logf = open(self.logfile, "w")
        self.child = subprocess.Popen(["samba", "-i", "-M", "single", "-s", self.conf, "--debug-stdout"],
                                      stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT,
                                      env=clock_env(self.args.clock_offset), preexec_fn=die_with_parent)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.child.poll() is not None:
                raise SystemExit(f"samba_ad_lab: samba exited {self.child.returncode}:\n" + open(self.logfile).read())
            if all(self.can_connect(p) for p in (636, 389)):
                return
            time.sleep(0.05)
        raise SystemExit("samba_ad_lab: samba did not listen within 30 s:\n" + open(self.logfile).read())

    def stop(self):
        if self.child and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(5)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()

    def can_connect(self, port):
        try:
            socket.create_connection((self.ip, port), 0.2).close()
            return True
        except OSError:
            return False

    def bind(self, user, password):
        """A simple bind over LDAPS (the lab's own server: certificate not checked here)."""
        env = dict(os.environ, LDAPTLS_REQCERT="never")
        return run(["ldapsearch", "-LLL", "-x", "-o", "nettimeout=5", "-H", f"ldaps://{self.ip}", "-D", f"{user}@example.com",
                    "-w", password, "-b", "", "-s", "base", "dnsHostName"], check=False, env=env)

    def ensure_locked(self):
        r = self.bind("locked", PASSWORD)
        if "data 775" in r.stdout + r.stderr:
            return
        for _ in range(LOCKOUT_THRESHOLD):
            self.bind("locked", "wrong-password")
        r = self.bind("locked", PASSWORD)
        if "data 775" not in r.stdout + r.stderr:
            raise SystemExit(f"samba_ad_lab: could not lock out 'locked': {r.stdout}{r.stderr}")

    def ca_file(self):
        if self.args.cert:
            return os.path.join(self.dir, "tls", "ca.pem")
        return os.path.join(self.dc, "private", "tls", "ca.pem")


def main():
    # Started by Foundation's Process, which may leave SIGTERM blocked: unblock it for this
    # process and the server it starts, so a stop request is seen.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGALRM])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ip", default="127.0.0.11")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca")
    ap.add_argument("--clock-offset", type=int, default=0,
                    help="run samba with its clock this many seconds off (faketime): RootDSE currentTime shows it")
    ap.add_argument("--ready-file")
    ap.add_argument("--option", action="append", default=[], help="an extra smb.conf [global] line")
    ap.add_argument("--provision-only", action="store_true", help="provision (if the cache is stale) and exit")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin reaches EOF (the test process is gone)")
    args = ap.parse_args()
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    if not args.ip.startswith("127."):
        ap.error("--ip must be a loopback address")
    lab = Lab(args)
    os.makedirs(lab.dir, exist_ok=True)
    lock = open(os.path.join(lab.dir, "lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log(f"{lab.dir} is in use by another samba_ad_lab")
        sys.exit(75)

    ready = args.ready_file or os.path.join(lab.dir, "ready.json")
    if os.path.exists(ready):
        os.remove(ready)  # a stale one from an earlier run must not look ready
    lab.check_ports_free()
    timings = {}
    t0 = time.time()
    stamp = os.path.join(lab.dir, "stamp")
    want = stamp_text()
    fresh = not (os.path.exists(stamp) and open(stamp).read() == want and os.path.exists(lab.sam))
    if fresh:
        if os.path.exists(stamp):
            os.remove(stamp)
        timings["provision_s"], timings["accounts_s"] = lab.provision()
        # A first start, once per cache: Samba generates its self-signed TLS certificate
        # (private/tls, kept even when --cert is given) and `locked` is locked out by failed
        # binds, so that every later start is ready as soon as it listens.
        t = time.time()
        lab.write_conf(own_cert=False)
        lab.start()
        lab.ensure_locked()
        lab.stop()
        with open(stamp, "w") as f:
            f.write(want)
        timings["first_start_s"] = time.time() - t
    lab.write_conf()
    t1 = time.time()
    lab.refresh_aged()
    timings["refresh_s"] = time.time() - t1

    stopping = []

    def on_signal(signum, frame):
        # only signal the child here: the main thread may be inside child.wait(), which holds
        # Popen's lock (waiting again from the handler deadlocks)
        stopping.append(signum)
        if lab.child and lab.child.poll() is None:
            lab.child.terminate()
            signal.alarm(5)
        else:
            sys.exit(0)

    def on_alarm(signum, frame):
        if lab.child and lab.child.poll() is None:
            lab.child.kill()

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
    t2 = time.time()
    lab.start()
    timings["start_s"] = time.time() - t2
    t3 = time.time()
    lab.ensure_locked()  # normally only checks: the lockout was made at provisioning
    timings["lockout_s"] = time.time() - t3
    timings["total_s"] = time.time() - t0
    if args.provision_only:
        lab.stop()
        log(f"provisioned {lab.dir}: " + json.dumps({k: round(v, 2) for k, v in timings.items()}))
        return

    info = {
        "ldaps": f"ldaps://{args.ip}:636", "ldap": f"ldap://{args.ip}:389", "ip": args.ip,
        "dnsHostName": f"{HOST}.{REALM.lower()}", "base": BASE, "realm": REALM, "domain": DOMAIN,
        "ca_file": lab.ca_file(), "log": lab.logfile, "pid": lab.child.pid, "reused_cache": not fresh,
        "administrator": {"upn": f"Administrator@{REALM.lower()}", "password": ADMIN_PASSWORD},
        "accounts": {n: {"upn": f"{n}@example.com", "dn": f"CN={n},CN=Users,{BASE}", "password": p, "state": s, "bind": b}
                     for n, (p, s, b) in ACCOUNTS.items()},
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    text = json.dumps(info, sort_keys=True)
    with open(ready + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(ready + ".tmp", ready)
    print("READY " + text, flush=True)
    code = lab.child.wait()
    if stopping:
        sys.exit(0)
    log(f"samba exited by itself ({code})")
    sys.exit(1)


if __name__ == "__main__":
    main()
