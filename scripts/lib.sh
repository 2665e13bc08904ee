# Shared helpers of the benchmark and soak scripts (sourced, not run).
# A free loopback port.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# lab_tls DIR PORT [SAN]: nginx on 127.0.0.1:PORT with an ECDSA P-256 certificate for mail.bench.test
# (or SAN, openssl's syntax; CA in DIR/ca.pem), answering every request like on-premises Exchange EWS: 401 with
# Negotiate, NTLM and Basic. Prints nginx's PID.
# lab_pki WORK CN SAN: a root (WORK/ca.pem) and a leaf for CN (WORK/leaf.pem, leaf.key), 90 days.
lab_pki() {
  local work=$1 cn=$2 san=$3
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 90 \
    -subj "/CN=ewsprobe bench root" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/leaf.key" -out "$work/leaf.csr" \
    -subj "/CN=$cn" 2>/dev/null
  printf 'subjectAltName=%s\n' "$san" >"$work/leaf.ext"
  openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -out "$work/leaf.pem" -days 90 \
    -extfile "$work/leaf.ext" 2>/dev/null
}

lab_tls() {
  local work=$1 nginx_port=$2 san=${3:-DNS:mail.bench.test}
  lab_pki "$work" mail.bench.test "$san"
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; error_log $work/nginx/logs/error.log; pid $work/nginx/pid;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $work/nginx;
  server { listen 127.0.0.1:$nginx_port ssl; ssl_certificate $work/leaf.pem; ssl_certificate_key $work/leaf.key;
    location / { add_header WWW-Authenticate "Negotiate" always; add_header WWW-Authenticate "NTLM" always;
      add_header WWW-Authenticate 'Basic realm="mail.bench.test"' always; return 401; } } }
CONF
  /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" >/dev/null 2>&1 &
  echo $!
  wait_port "$nginx_port"
}

# bench_lab NAME: what every benchmark starts with. Sets work (a folder of its own), pids
# (killed on exit; add your processes), tck, NGINX_PORT and URL (the nginx EWS lab).
bench_lab() {
  work=$(mktemp -d "/tmp/ewsprobe-$1.XXXXXX")
  pids=()
  trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT
  tck=$(getconf CLK_TCK)
  ulimit -n 65536 2>/dev/null || true
  NGINX_PORT=$(port)
  pids+=("$(lab_tls "$work" "$NGINX_PORT")")
  URL="https://mail.bench.test:$NGINX_PORT/EWS/Exchange.asmx"
}

# lag_quantiles PORT: scheduler lag p50 and p99 in ms from the serve's histogram.
lag_quantiles() { curl -s "http://127.0.0.1:$1/metrics" | python3 "$(dirname "${BASH_SOURCE[0]}")/lag_quantiles.py"; }
