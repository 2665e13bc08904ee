#!/usr/bin/env bash
# The package test (CI runs it as root after the other tests): builds the .deb, installs it on
# this machine, runs the installed binary as the service user with the unit's own command line,
# removes and purges it and checks nothing is left; validates the Kubernetes manifests; runs the
# package in a minimal Debian 12 root (debootstrap) holding only its Depends.
# Needs root; installs what it uses (scripts/setup.sh --package). EWSPROBE_SKIP_CHROOT=1 skips the
# debootstrap part.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "package-test: needs root (dpkg -i, a system user, chroot)" >&2; exit 1; }
scripts/setup.sh --package

passed=0
start=$SECONDS
step_start=$SECONDS
ok() { passed=$((passed + 1)); echo "package-test: ok: $*"; }
fail() { echo "package-test: FAIL: $*" >&2; echo "package-test: $passed passed, 1 failed" >&2; exit 1; }
timing() { echo "package-test: [$1 took $((SECONDS - step_start)) s]"; step_start=$SECONDS; }

work=$(mktemp -d /var/tmp/ewsprobe-pkgtest.XXXXXX)
server=""
chroot_dir=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  if [ -n "$chroot_dir" ] && mountpoint -q "$chroot_dir/proc"; then
    umount "$chroot_dir/proc" || umount -l "$chroot_dir/proc" || true
  fi
  # Never into a still-mounted /proc: --one-file-system stops at any mount point.
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# A package left by an interrupted run would turn the install below into an upgrade.
if dpkg-query -W -f='${Status}' ewsprobe 2>/dev/null | grep -q 'installed\|config-files'; then
  echo "package-test: purging an ewsprobe package left installed"
  dpkg -P ewsprobe >/dev/null
fi

# --- a missing packaging tool is named before the build, not after nine minutes of it ---------
nochrpath="$work/path-without-chrpath"
mkdir -p "$nochrpath"
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  for tool in "$dir"/*; do
    name=$(basename "$tool")
    [ "$name" = chrpath ] || [ -e "$nochrpath/$name" ] || ln -s "$tool" "$nochrpath/$name"
  done
done
early=0
EWSPROBE_NO_INSTALL=1 PATH="$nochrpath" timeout 120 scripts/package-deb.sh >"$work/early.txt" 2>&1 || early=$?
[ "$early" -eq 1 ] || fail "package-deb.sh without chrpath exited $early, not 1: $(tail -3 "$work/early.txt")"
grep -q 'missing chrpath' "$work/early.txt" || fail "package-deb.sh did not name the missing chrpath: $(tail -3 "$work/early.txt")"
if grep -q 'Building\|Compiling' "$work/early.txt"; then fail "package-deb.sh built before finding chrpath missing"; fi
ok "package-deb.sh names a missing chrpath before building"
timing tools

# --- build ---------------------------------------------------------------------------------
scripts/package-deb.sh | tee "$work/build.txt"
deb=$(sed -n 's/^package-deb: \(dist\/[^ ]*\.deb\) .*/\1/p' "$work/build.txt")
[ -f "$deb" ] || fail "package-deb.sh named no .deb"
version=$(dpkg-deb -f "$deb" Version)
ok "built $deb"
timing build

# --- install on this machine ---------------------------------------------------------------
dpkg -i "$deb" >/dev/null
[ "$(/usr/bin/ewsprobe --version)" = "$version" ] || fail "/usr/bin/ewsprobe --version is not $version"
ok "dpkg -i; /usr/bin/ewsprobe --version = $version"
ewsprobe check-config /etc/ewsprobe/ewsprobe.yml >/dev/null || fail "check-config of the installed configuration"
dpkg-query -W -f='${Conffiles}\n' ewsprobe | grep -q '^ /etc/ewsprobe/ewsprobe.yml ' || fail "ewsprobe.yml is not a conffile"
ok "check-config /etc/ewsprobe/ewsprobe.yml (a conffile)"

entry=$(getent passwd ewsprobe) || fail "no ewsprobe user"
IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
[ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ] && [ "$home" = /nonexistent ] || fail "ewsprobe is not a system user without login: $entry"
[ "$(stat -c '%U:%G %a' /etc/ewsprobe)" = "root:ewsprobe 750" ] || fail "/etc/ewsprobe is $(stat -c '%U:%G %a' /etc/ewsprobe)"
ok "system user ewsprobe (uid $uid, nologin); /etc/ewsprobe root:ewsprobe 0750"

# The commented example targets, uncommented, with the password file made as the configuration's
# comment (and the README) say: valid, and no warning when the service user reads them.
install -m 0600 -o ewsprobe -g ewsprobe /dev/null /etc/ewsprobe/svc-archive.password
echo "not a real password" >/etc/ewsprobe/svc-archive.password
sed -e '/^targets: \[\]$/d' -e '/^# targets:/,$ s/^# \{0,1\}//' /etc/ewsprobe/ewsprobe.yml >/etc/ewsprobe/example-targets.yml
chgrp ewsprobe /etc/ewsprobe/example-targets.yml && chmod 0640 /etc/ewsprobe/example-targets.yml
setpriv --reuid=ewsprobe --regid=ewsprobe --init-groups -- ewsprobe check-config /etc/ewsprobe/example-targets.yml >"$work/example.txt" 2>&1 ||
  { cat "$work/example.txt"; fail "check-config of the commented targets as ewsprobe"; }
grep -q ', 2 target(s)' "$work/example.txt" && ! grep -q warning "$work/example.txt" ||
  { cat "$work/example.txt"; fail "the commented targets: not 2 targets, or a warning"; }
ok "the commented example targets, uncommented, pass check-config as ewsprobe without a warning (password file 0600 ewsprobe)"

# Installing again runs postinst as an upgrade: it must find the user and not fail.
dpkg -i "$deb" >/dev/null
ok "dpkg -i again (upgrade path of the maintainer scripts)"

unit=/lib/systemd/system/ewsprobe.service
# systemd is not PID 1 here, and verify works on the file alone: it checks the syntax, every
# directive, that ExecStart's binary exists and the Documentation's man page opens.
systemd-analyze verify "$unit" >"$work/verify.txt" 2>&1 || { cat "$work/verify.txt"; fail "systemd-analyze verify"; }
if [ -s "$work/verify.txt" ]; then
  cat "$work/verify.txt"
  fail "systemd-analyze verify printed warnings"
fi
exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for ewsprobe.service: \([0-9.]*\).*/\1/p')
ok "systemd-analyze verify $unit: no warnings (offline security exposure: ${exposure:-n/a})"

manpage=$(man -P cat ewsprobe 2>/dev/null)
grep -q 'web.config.file' <<<"$manpage" || fail "man ewsprobe lacks serve's options"
bash -c 'source /usr/share/bash-completion/completions/ewsprobe && complete -p ewsprobe' >/dev/null || fail "bash completion"
grep -q '#compdef ewsprobe' /usr/share/zsh/vendor-completions/_ewsprobe || fail "zsh completion"
grep -q "^complete -c 'ewsprobe'" /usr/share/fish/vendor_completions.d/ewsprobe.fish || fail "fish completion"
for f in alerts.yml alerts_test.yml grafana-ewsprobe.json prometheus.yml; do
  [ -f "/usr/share/ewsprobe/$f" ] || fail "/usr/share/ewsprobe/$f missing"
done
(cd /usr/share/ewsprobe && promtool test rules alerts_test.yml >/dev/null) || fail "promtool test rules in /usr/share/ewsprobe"
ok "man page, bash/zsh/fish completions, /usr/share/ewsprobe (installed rules pass promtool test rules)"
timing install

# --- the service's command line, as the service user ----------------------------------------
# ExecStart from the installed unit, split as systemd does for a line without quotes; the
# environment is systemd's (empty but PATH), the user, no new privileges and no capabilities
# as the unit says. The sandbox options (namespaces, seccomp) need systemd as PID 1: not here.
execstart=$(sed -n 's/^ExecStart=//p' "$unit")
case $execstart in *[\"\'\\]* | [-@+!:]*) fail "ExecStart needs systemd's full parser: $execstart" ;; esac
read -r -a argv <<<"$execstart"
listen=""
for i in "${!argv[@]}"; do [ "${argv[$i]}" = --listen ] && listen=${argv[$((i + 1))]}; done
case $listen in 127.0.0.1:*) ;; *) fail "the unit does not listen on loopback: $listen" ;; esac
port=${listen##*:}
if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port is taken; the unit's --listen cannot be tried"; fi
(cd / && umask 0077 && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  setpriv --reuid=ewsprobe --regid=ewsprobe --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- \
  "${argv[@]}") >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -fsS "http://$listen/-/healthy" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; fail "serve exited at start"; }
  sleep 0.1
done
[ "$(ps -o user= -p "$server")" = ewsprobe ] || fail "serve does not run as ewsprobe"
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$server/status" || fail "serve runs without no_new_privs"
grep -q '^CapBnd:[[:space:]]*0000000000000000' "/proc/$server/status" || fail "serve has a capability bounding set"
curl -fsS "http://$listen/metrics" >"$work/metrics.txt" || fail "scrape of http://$listen/metrics"
grep -q "^ewsprobe_build_info{version=\"$version\"} 1" "$work/metrics.txt" || fail "no ewsprobe_build_info{version=\"$version\"} in /metrics"
ok "serve as ewsprobe (no_new_privs, empty bounding set) with the unit's ExecStart; /metrics has ewsprobe_build_info"
# ExecReload's signal: the file is loaded again (the success timestamp moves) and successfully.
reload_stamp() { curl -fsS "http://$listen/metrics" | sed -n 's/^ewsprobe_config_last_reload_success_timestamp_seconds //p'; }
before=$(reload_stamp)
[ -n "$before" ] || fail "no ewsprobe_config_last_reload_success_timestamp_seconds in /metrics"
sleep 1.1
kill -HUP "$server"
after=$before
for _ in $(seq 50); do
  after=$(reload_stamp)
  [ "$after" != "$before" ] && break
  sleep 0.1
done
[ "$after" != "$before" ] || fail "SIGHUP did not reload the configuration (success timestamp still $before)"
metrics=$(curl -fsS "http://$listen/metrics")
grep -q '^ewsprobe_config_last_reload_successful 1' <<<"$metrics" || fail "SIGHUP reload not reported successful"
kill -TERM "$server"
for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server" 2>/dev/null && fail "serve still running 5 s after SIGTERM"
rc=0
wait "$server" || rc=$?
server=""
[ "$rc" -eq 0 ] || { cat "$work/serve.log"; fail "serve exited $rc after SIGTERM"; }
ok "SIGHUP (ExecReload) reloads; SIGTERM stops it with exit 0"
timing serve

# --- remove, purge ---------------------------------------------------------------------------
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's#^\./#/#' -e 's#/$##' | grep -v '^/\?$' >"$work/files.txt"
dpkg -r ewsprobe >/dev/null
[ ! -e /usr/bin/ewsprobe ] || fail "dpkg -r left /usr/bin/ewsprobe"
[ -f /etc/ewsprobe/ewsprobe.yml ] || fail "dpkg -r removed the conffile (only purge should)"
getent passwd ewsprobe >/dev/null || fail "dpkg -r removed the user (only purge should)"
[ -f /etc/ewsprobe/svc-archive.password ] || fail "dpkg -r removed the admin's password file"
ok "dpkg -r: binary gone, conffile, an admin's files and the user kept"
dpkg -P ewsprobe >/dev/null
dpkg-query -W ewsprobe >/dev/null 2>&1 && fail "dpkg still knows ewsprobe after purge"
left=()
while read -r path; do
  [ -e "$path" ] || continue
  # A directory another package owns too (/usr/share/man/man1, ...) stays, as it should.
  [ -d "$path" ] && dpkg-query -S "$path" >/dev/null 2>&1 && continue
  left+=("$path")
done <"$work/files.txt"
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
[ ! -e /etc/ewsprobe ] || fail "/etc/ewsprobe left after purge"
# The unit's enablement (the wants symlink, deb-systemd-helper's state) goes with purge too.
leftunits=$(find /etc/systemd /var/lib/systemd -name '*ewsprobe*' 2>/dev/null)
[ -z "$leftunits" ] || fail "systemd state left after purge: $leftunits"
getent passwd ewsprobe >/dev/null && fail "user ewsprobe left after purge"
getent group ewsprobe >/dev/null && fail "group ewsprobe left after purge"
ok "dpkg -P: no file of the package, no /etc/ewsprobe (the admin's files included), no enablement symlink, no user or group left"
timing remove

# --- Kubernetes manifests ---------------------------------------------------------------------
k8s=deploy/kubernetes
scripts/gen-prometheusrule.sh --check || fail "prometheusrule.yaml drifted from dashboards/alerts.yml"
ok "prometheusrule.yaml is what scripts/gen-prometheusrule.sh makes of dashboards/alerts.yml"
# The core kinds against the API schemas the validator ships (no cluster needed); strict
# refuses unknown fields. The two prometheus-operator kinds are not in those schemas.
kubernetes-validate --strict --quiet "$k8s/deployment.yaml" "$k8s/service.yaml" "$k8s/configmap.yaml" \
  "$k8s/networkpolicy.yaml" || fail "kubernetes-validate"
ok "kubernetes-validate --strict: Deployment, Service, ConfigMap, NetworkPolicy"
python3 - "$k8s" "$work" <<'EOF' || fail "the manifests do not fit together"
import os, sys, yaml
k8s, work = sys.argv[1], sys.argv[2]
load = lambda name: yaml.safe_load(open(os.path.join(k8s, name)))
dep, svc, cm, sm, pr, np = (load(n) for n in ("deployment.yaml", "service.yaml", "configmap.yaml", "servicemonitor.yaml",
                                               "prometheusrule.yaml", "networkpolicy.yaml"))
def need(cond, why):
    if not cond:
        sys.exit("k8s: " + why)
# NetworkPolicy: it selects the pod and opens only the container's port.
pod_labels = dep["spec"]["template"]["metadata"]["labels"]
need(all(pod_labels.get(k) == v for k, v in np["spec"]["podSelector"]["matchLabels"].items()), "NetworkPolicy selects the pod")
container_ports = {p["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
need({p["port"] for rule in np["spec"]["ingress"] for p in rule["ports"]} <= container_ports, "NetworkPolicy opens the pod's port only")
# PrometheusRule: its groups become a rule file for promtool.
need(pr["apiVersion"] == "monitoring.coreos.com/v1" and pr["kind"] == "PrometheusRule", "PrometheusRule kind")
need(set(pr["spec"]) == {"groups"}, "PrometheusRule spec has only groups")
yaml.safe_dump({"groups": pr["spec"]["groups"]}, open(os.path.join(work, "alerts.yml"), "w"), sort_keys=False)
# ServiceMonitor: no schema here, so what it must agree with is checked instead.
need(sm["apiVersion"] == "monitoring.coreos.com/v1" and sm["kind"] == "ServiceMonitor", "ServiceMonitor kind")
labels = svc["metadata"]["labels"]
need(all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()), "ServiceMonitor selects the Service")
ports = {p["name"] for p in svc["spec"]["ports"]}
need(all(e["port"] in ports for e in sm["spec"]["endpoints"]), "ServiceMonitor endpoint ports are Service ports")
need(set(sm["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}, "ServiceMonitor spec keys")
for e in sm["spec"]["endpoints"]:
    need(set(e) <= {"port", "path", "interval", "scrapeTimeout", "relabelings", "metricRelabelings", "scheme"}, "endpoint keys")
# Deployment and Service agree; the pod's hardening is what the README says.
pod = dep["spec"]["template"]["spec"]
need(svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(), "Service selects the pods")
c = pod["containers"][0]
need(c["readinessProbe"]["httpGet"]["path"] == "/-/ready" and c["livenessProbe"]["httpGet"]["path"] == "/-/healthy", "probes")
sc = c["securityContext"]
need(sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], "container securityContext")
need(pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", "pod securityContext")
# The args' --config and the configuration's password_file are on the mounted volumes.
args = c["args"]
config_path = args[args.index("--config") + 1]
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
cfg_mount = [n for n, v in vols.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
need(cfg_mount and os.path.join(mounts[cfg_mount[0]], os.path.basename(config_path)) == config_path, "--config is the ConfigMap's file")
need(os.path.basename(config_path) in cm["data"], "the ConfigMap holds the file --config names")
secret_mount = [mounts[n] for n, v in vols.items() if "secret" in v][0]
config = yaml.safe_load(cm["data"][os.path.basename(config_path)])
secrets = [t["password_file"] for t in config["targets"] if "password_file" in t]
need(secrets and all(os.path.dirname(p) == secret_mount for p in secrets), "password_file is on the Secret's mount")
open(os.path.join(work, "k8s-config.yml"), "w").write(cm["data"][os.path.basename(config_path)])
open(os.path.join(work, "k8s-secrets.txt"), "w").write("\n".join(secrets) + "\n")
EOF
promtool check rules "$work/alerts.yml" >/dev/null || fail "promtool check rules of the PrometheusRule's groups"
cp dashboards/alerts_test.yml "$work/" && (cd "$work" && promtool test rules alerts_test.yml >/dev/null) ||
  fail "promtool test rules against the PrometheusRule's groups"
ok "PrometheusRule: extracted rules pass promtool check rules and the shipped rule tests; ServiceMonitor, Service, Deployment and ConfigMap agree"
# The sharded set-up (deploy/kubernetes/sharded/): a StatefulSet whose pods take their shard from
# their ordinal and count their peers through the headless Service (ShardTests runs the pods).
kubernetes-validate --strict --quiet "$k8s/sharded/statefulset.yaml" "$k8s/sharded/peers-service.yaml" ||
  fail "kubernetes-validate of the sharded manifests"
python3 - "$k8s" <<'EOF' || fail "the sharded manifests do not fit together"
import os, sys, yaml
k8s = sys.argv[1]
load = lambda name: yaml.safe_load(open(os.path.join(k8s, name)))
sts, peers, dep, svc, np = (load(n) for n in ("sharded/statefulset.yaml", "sharded/peers-service.yaml", "deployment.yaml",
                                               "service.yaml", "networkpolicy.yaml"))
def need(cond, why):
    if not cond:
        sys.exit("k8s sharded: " + why)
labels = sts["spec"]["template"]["metadata"]["labels"]
need(sts["spec"]["selector"]["matchLabels"].items() <= labels.items(), "the StatefulSet selects its pods")
need(sts["spec"]["serviceName"] == peers["metadata"]["name"], "serviceName is the headless peers Service")
need(peers["spec"]["clusterIP"] == "None" and peers["spec"]["publishNotReadyAddresses"] is True, "peers: headless, every pod counted")
need(peers["spec"]["selector"].items() <= labels.items(), "peers selects the pods")
need(svc["spec"]["selector"].items() <= labels.items(), "the scrape Service selects the pods")
need(np["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), "the NetworkPolicy covers the pods")
pod, dpod = sts["spec"]["template"]["spec"], dep["spec"]["template"]["spec"]
c, dc = pod["containers"][0], dpod["containers"][0]
args = c["args"]
need(args[args.index("--shard") + 1] == "auto", "--shard auto")
need(args[args.index("--shard-peers") + 1].startswith(peers["metadata"]["name"] + ".$(POD_NAMESPACE).svc."), "--shard-peers names the peers")
env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
need(env.get("POD_NAME") == "metadata.name" and env.get("POD_NAMESPACE") == "metadata.namespace", "POD_NAME and POD_NAMESPACE from the downward API")
need(args[args.index("--config") + 1] == dc["args"][dc["args"].index("--config") + 1], "the same configuration as the Deployment")
need(c["securityContext"] == dc["securityContext"] and pod["securityContext"] == dpod["securityContext"], "the Deployment's hardening")
need(c["volumeMounts"] == dc["volumeMounts"] and pod["volumes"] == dpod["volumes"], "the Deployment's ConfigMap and Secret")
need(c["readinessProbe"] == dc["readinessProbe"] and c["livenessProbe"] == dc["livenessProbe"], "the Deployment's probes")
EOF
ok "sharded: StatefulSet and headless peers Service validate and agree with the Service, NetworkPolicy and Deployment"
timing kubernetes

# --- a minimal Debian 12 root with only the package's Depends -------------------------------
if [ "${EWSPROBE_SKIP_CHROOT:-}" = 1 ]; then
  echo "package-test: EWSPROBE_SKIP_CHROOT=1: the minimal-root run is skipped; ldd of the build:"
  ldd .build-rel/release/ewsprobe
else
  # apt's own Debian mirror, so nothing else is reached.
  mirror=$(sed -n 's/^URIs:[[:space:]]*\(.*\/debian\/\{0,1\}\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || fail "no Debian mirror in apt's sources"
  depends=$(dpkg-deb -f "$deb" Depends | sed -e 's/([^)]*)//g' -e 's/|[^,]*//g' -e 's/[[:space:]]//g')
  chroot_dir="$work/root"
  debootstrap --variant=minbase --include="$depends" bookworm "$chroot_dir" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  timing debootstrap
  cp "$deb" "$chroot_dir/tmp/"
  # The Swift runtime reads its arguments from /proc/self/cmdline: without /proc every command
  # line is empty (any real system and container has /proc).
  mount -t proc proc "$chroot_dir/proc"
  # dpkg -i, not apt: it refuses to configure unless the Depends are already there.
  chroot "$chroot_dir" dpkg -i "/tmp/$(basename "$deb")" >/dev/null || fail "dpkg -i in the minimal root"
  ok "minimal bookworm root with only $depends: dpkg -i succeeds"
  ! chroot "$chroot_dir" sh -c 'ls /usr/lib/swift* /opt/swift' >/dev/null 2>&1 || fail "the minimal root has a Swift runtime"
  # What the unit runs besides ewsprobe (ExecReload) comes with the Depends too.
  reload=$(sed -n 's/^ExecReload=\([^ ]*\).*/\1/p' deploy/debian/ewsprobe.service)
  chroot "$chroot_dir" test -x "$reload" || fail "the unit's ExecReload $reload is missing in the minimal root"
  chroot "$chroot_dir" ldd /usr/bin/ewsprobe >"$work/ldd.txt" || fail "ldd in the minimal root"
  grep -E 'not found|swift' "$work/ldd.txt" && fail "ldd in the minimal root: a library missing or from Swift"
  [ "$(chroot "$chroot_dir" /usr/bin/ewsprobe --version)" = "$version" ] || fail "ewsprobe --version in the minimal root"
  chroot "$chroot_dir" /usr/bin/ewsprobe check-config /etc/ewsprobe/ewsprobe.yml >/dev/null || fail "check-config in the minimal root"
  # The ConfigMap's configuration, with the password file laid out as a Secret volume is
  # (a symlink through ..data to a 0440 file in a timestamped folder).
  mkdir -p "$chroot_dir/etc/ewsprobe-k8s"
  cp "$work/k8s-config.yml" "$chroot_dir/etc/ewsprobe-k8s/ewsprobe.yml"
  while read -r secret; do
    dir="$chroot_dir$(dirname "$secret")"
    mkdir -p "$dir/..2026_12_03_00_00_00.000000000"
    echo "not a real password" >"$dir/..2026_12_03_00_00_00.000000000/$(basename "$secret")"
    chmod 0440 "$dir/..2026_12_03_00_00_00.000000000/$(basename "$secret")"
    ln -sfn ..2026_12_03_00_00_00.000000000 "$dir/..data"
    ln -sfn "..data/$(basename "$secret")" "$dir/$(basename "$secret")"
  done <"$work/k8s-secrets.txt"
  chroot "$chroot_dir" /usr/bin/ewsprobe check-config /etc/ewsprobe-k8s/ewsprobe.yml >"$work/k8s-check.txt" 2>&1 ||
    { cat "$work/k8s-check.txt"; fail "check-config of the ConfigMap's configuration"; }
  # One warning is expected and only that one: the kubelet makes a Secret's files readable by the
  # pod's fsGroup (0440) whatever defaultMode says, and ewsprobe warns about a group-readable
  # password file. That group is the pod's own.
  grep 'warning' "$work/k8s-check.txt" | grep -v 'password_file: warning: password file is readable by group or others' &&
    { cat "$work/k8s-check.txt"; fail "the ConfigMap's configuration gives warnings"; }
  # serve in the minimal root (same network namespace), scraped from outside.
  cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  chroot "$chroot_dir" /usr/bin/ewsprobe serve --config /etc/ewsprobe/ewsprobe.yml --listen "127.0.0.1:$cport" >"$work/chroot-serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$cport/-/healthy" >/dev/null 2>&1 && break; sleep 0.1; done
  chroot_metrics=$(curl -fsS "http://127.0.0.1:$cport/metrics" || true)
  grep -q "^ewsprobe_build_info{version=\"$version\"} 1" <<<"$chroot_metrics" ||
    { cat "$work/chroot-serve.log"; fail "serve in the minimal root"; }
  kill -TERM "$server" && wait "$server" || fail "serve in the minimal root did not stop cleanly on SIGTERM"
  server=""
  ok "in the minimal root: no Swift library, ldd resolves all, --version, check-config of the package's and the ConfigMap's configuration (password through a Secret-style symlink), serve answers /metrics"
fi
timing chroot

echo "package-test: wall time $((SECONDS - start)) s"
echo "package-test: $passed passed, 0 failed"
