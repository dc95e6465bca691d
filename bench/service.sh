#!/usr/bin/env bash
# Load benchmark of the pin service (issue 5), everything on loopback:
#   1. GET /v1/apps/bench/pins.json from `pinset serve` over TLS, without and
#      with If-None-Match, against nginx serving the same file over TLS in the
#      same run: same certificate and key (ECDSA P-256), same TLS version and
#      cipher suite (checked), keep-alive on both, access logs off on both
#      (nginx access_log off; pinset at its default level, which logs no
#      successful document GET), nginx with a normal production config
#      (worker_processes auto, open_file_cache), GOMAXPROCS left to Go;
#      ROUNDS rounds alternate the order of the servers, and the summary
#      gives the medians and the server CPU time per request; bench/gofloor
#      (a bare Go net/http + crypto/tls server with pinset's settings) runs
#      alongside as the floor of what a Go server can do;
#   2. a report storm (POST /v1/apps/bench/reports, 1,000 distinct
#      failures: the app version cycles through 1,000 values) into SQLite,
#      into PostgreSQL and into the floor (bench/gofloor -reports: a bare Go
#      HTTPS server appending each body to a file with the same group
#      fsync), in one run; then the storage each holds.
#
# Usage: bench/service.sh [DURATION] [CONNECTIONS] [ROUNDS]  (defaults 10s, 64, 3)
# Environment:
#   PARTS="docs reports"  what to run (default both)
#   PINSET_BIN=FILE       a built pinset to measure instead of building ./cmd/pinset
#   PINSET_BASE_BIN=FILE  a second pinset (e.g. the previous commit's) measured
#                         in the same rounds, for before/after figures
#   PG_DB=NAME            the PostgreSQL database (default pinset_bench; emptied)
#   PORT_BASE=N           use ports N to N+5 (default 18443)
#   WRK_CPUS=LIST         pin wrk with taskset -c LIST (default: not pinned);
#                         either way wrk runs the same for every server
# Needs: go, wrk, nginx, openssl, curl, and PostgreSQL for part 2 (Debian
# packages wrk nginx openssl curl postgresql; .ci/postgres.sh starts the
# cluster). Prints one line per run and markdown tables at the end.
set -euo pipefail

# Ports PORT_BASE to PORT_BASE+5 (default 18443), so that two runs on one
# machine do not meet.
pb=${PORT_BASE:-18443}
P0=$pb P1=$((pb + 1)) P2=$((pb + 2)) P3=$((pb + 3)) P4=$((pb + 4)) P5=$((pb + 5))
dur=${1:-10s}
conns=${2:-64}
rounds=${3:-3}
parts=${PARTS:-docs reports}
threads=2
root=$(cd "$(dirname "$0")/.." && pwd)
for t in wrk nginx openssl go curl; do
	command -v $t >/dev/null || { echo "bench/service.sh: $t not found (apt-get install -y wrk nginx openssl curl)" >&2; exit 1; }
done
wrk_cmd=(wrk)
if [ -n "${WRK_CPUS:-}" ]; then
	wrk_cmd=(taskset -c "$WRK_CPUS" wrk)
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
if [ -n "${PINSET_BIN:-}" ]; then
	cp "$PINSET_BIN" "$work/pinset"
else
	go build -o "$work/pinset" ./cmd/pinset
fi
go run ./bench/servicedocs -o "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

cat > "$work/serve.yaml" <<YAML
report_rate: 1000000000
report_burst: 1000000000
report_app_rate: 1000000000
report_app_burst: 1000000000
YAML

# start_pinset PORT BINARY ARGS... : serve with TLS and wait until ready.
start_pinset() {
	local port=$1 bin=$2; shift 2
	"$bin" serve --listen 127.0.0.1:$port --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
		--config "$work/serve.yaml" --publish-gate=false "$@" 2>>"$work/serve.log" &
	pids+=($!)
	echo $! >"$work/pid.$port"
	for _ in $(seq 100); do
		curl -skf https://127.0.0.1:$port/readyz >/dev/null && return 0
		sleep 0.1
	done
	echo "pinset serve did not start" >&2; cat "$work/serve.log" >&2; exit 1
}

# publish PORT ARGS... : token and documents into the store ARGS name.
setup_store() {
	"$work/pinset" token new --init --name bench "$@" 2>/dev/null
}

tok=$(setup_store --data "$work/sqlite")
start_pinset $P0 "$work/pinset" --data "$work/sqlite"
PINSET_TOKEN=$tok "$work/pinset" publish --server https://127.0.0.1:$P0 --cafile "$work/tls.crt" "$work/root.json" "$work/pins.json" >/dev/null
P=https://127.0.0.1:$P0/v1/apps/bench/pins.json
N=https://127.0.0.1:$P1/v1/apps/bench/pins.json
B=https://127.0.0.1:$P3/v1/apps/bench/pins.json
if [ -n "${PINSET_BASE_BIN:-}" ]; then
	cp "$PINSET_BASE_BIN" "$work/pinset-base"
	btok=$(setup_store --data "$work/sqlite-base")
	start_pinset $P3 "$work/pinset-base" --data "$work/sqlite-base"
	PINSET_TOKEN=$btok "$work/pinset-base" publish --server https://127.0.0.1:$P3 --cafile "$work/tls.crt" "$work/root.json" "$work/pins.json" >/dev/null
fi

# gofloor: the same document from a bare Go net/http + crypto/tls server
# with pinset's http.Server settings and headers (bench/gofloor), to tell
# pinset's own per-request cost from Go's HTTP and TLS stack.
F=https://127.0.0.1:$P4/v1/apps/bench/pins.json
go build -o "$work/gofloor" ./bench/gofloor
"$work/gofloor" -listen 127.0.0.1:$P4 -cert "$work/tls.crt" -key "$work/tls.key" -file "$work/pins.json" 2>>"$work/serve.log" &
pids+=($!)
echo $! >"$work/pid.$P4"
for _ in $(seq 50); do curl -skf $F >/dev/null && break; sleep 0.1; done

# tls_of PORT: the TLS version and cipher suite OpenSSL (wrk's library)
# negotiates with the server on PORT.
tls_of() {
	openssl s_client -connect 127.0.0.1:$1 -servername 127.0.0.1 </dev/null 2>&1 |
		awk '$1=="New," && $3=="Cipher" {sub(",", "", $2); print $2, $5; exit}'
}
read -r pinset_tls pinset_cipher <<<"$(tls_of $P0)"

mkdir -p "$work/www/v1/apps/bench"
chmod 755 "$work"   # nginx workers run as www-data when started as root
cp "$work/pins.json" "$work/www/v1/apps/bench/pins.json"
chmod -R a+rX "$work/www"
# A normal production configuration for static files, with the cipher
# suite pinset negotiated (so that both encrypt alike).
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 120s;
	keepalive_requests 1000000;
	open_file_cache max=1000 inactive=60s;
	default_type application/json;
	client_body_temp_path $work/nginx-tmp;
	proxy_temp_path $work/nginx-tmp;
	fastcgi_temp_path $work/nginx-tmp;
	uwsgi_temp_path $work/nginx-tmp;
	scgi_temp_path $work/nginx-tmp;
	server {
		listen 127.0.0.1:$P1 ssl;
		ssl_certificate $work/tls.crt;
		ssl_certificate_key $work/tls.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_conf_command Ciphersuites $pinset_cipher;
		root $work/www;
		etag on;
		add_header Cache-Control "public, max-age=60";
	}
}
NGINX
mkdir -p "$work/nginx-tmp"
nginx -c "$work/nginx.conf" -e "$work/nginx-error.log"
for _ in $(seq 50); do curl -skf $N >/dev/null && break; sleep 0.1; done
read -r nginx_tls nginx_cipher <<<"$(tls_of $P1)"
if [ "$pinset_tls $pinset_cipher" != "$nginx_tls $nginx_cipher" ]; then
	echo "bench/service.sh: pinset negotiates $pinset_tls $pinset_cipher, nginx $nginx_tls $nginx_cipher" >&2; exit 1
fi

etag_of() { curl -sk -D - -o /dev/null "$1" | awk 'tolower($1)=="etag:"{print $2}' | tr -d '\r'; }
pinset_etag=$(etag_of $P)
nginx_etag=$(etag_of $N)
if ! cmp -s <(curl -sk $P) <(curl -sk $N) || ! cmp -s <(curl -sk $P) <(curl -sk $F) || [ "$(etag_of $F)" != "$pinset_etag" ]; then
	echo "bench/service.sh: pinset and nginx do not serve the same bytes" >&2; tail -5 "$work/nginx-error.log" >&2; exit 1
fi

# server_pids PORT: the processes serving PORT (nginx: its workers).
server_pids() {
	if [ "$1" = $P1 ]; then pgrep -P "$(cat "$work/nginx.pid")"; else cat "$work/pid.$1"; fi
}
# cpu_ticks PID...: user+system CPU ticks the processes used so far.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo $t
}

# run NAME URL [wrk args...]: prints "requests/s CPU-us/request"; records
# p99 latency and the server's CPU time per request (user+system of its
# processes, from /proc, divided by the requests served: robust to other
# load on the machine).
run() {
	local name=$1 url=$2; shift 2
	local port=${url#https://127.0.0.1:}; port=${port%%/*}
	local sp; sp=$(server_pids "$port" | tr '\n' ' ')
	local t0; t0=$(cpu_ticks $sp)
	local out
	out=$("${wrk_cmd[@]}" -t$threads -c$conns -d"$dur" --latency "$@" "$url")
	local t1; t1=$(cpu_ticks $sp)
	local rps p99 errs n cpu
	rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	p99=$(awk '$1=="99%"{print $2}' <<<"$out")
	errs=$(awk '/Non-2xx or 3xx/{print $NF}' <<<"$out")
	n=$(awk '/requests in/{print $1}' <<<"$out")
	cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
	echo "$name: $rps req/s, p99 $p99, server CPU $cpu us/request, non-2xx/3xx ${errs:-0}" >&2
	echo "| $name | $rps | $p99 | $cpu | ${errs:-0} |" >>"$work/results.md"
	echo "$rps $cpu"
}

# median FILE COLUMN: the median of a column of numbers.
median() { sort -g -k"$2","$2" "$1" | awk -v c="$2" '{v[NR]=$c} END { if (NR % 2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2 }'; }

size=$(wc -c <"$work/pins.json")
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "manifest: $size bytes; ${wrk_cmd[*]} -t$threads -c$conns -d$dur; $rounds rounds; $(nproc) cores; $(go version); $(nginx -v 2>&1); $pinset_tls $pinset_cipher on both" >&2
servers="pinset nginx gofloor"
[ -n "${PINSET_BASE_BIN:-}" ] && servers="pinset nginx gofloor base"
url_of() { case $1 in pinset) echo $P;; nginx) echo $N;; base) echo $B;; gofloor) echo $F;; esac; }
etag_for() { case $1 in nginx) echo "$nginx_etag";; *) echo "$pinset_etag";; esac; }
if [[ " $parts " == *" docs "* ]]; then
	# Each round runs every server once per kind; the order alternates
	# between rounds so that load drifting during the run (the machine may
	# be shared) hits all alike.
	for i in $(seq "$rounds"); do
		order=$servers
		[ $((i % 2)) = 0 ] && order=$(echo $servers | tr ' ' '\n' | tac | tr '\n' ' ')
		for srv in $order; do
			run "$srv pins.json (200) #$i" "$(url_of $srv)" >>"$work/$srv.200"
		done
		for srv in $order; do
			run "$srv If-None-Match (304) #$i" "$(url_of $srv)" -H "If-None-Match: $(etag_for $srv)" >>"$work/$srv.304"
		done
	done
fi

if [[ " $parts " == *" reports "* ]]; then
# Report storm: a Lua script cycles the app version through 1,000 values,
# so the bodies are 1,000 distinct failures (each a dedup key), every
# arrival of which must be counted durably before its answer.
cp "$root/report/testdata/reports/trustkit-android.json" "$work/report.json"
cat > "$work/report.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/report.json", "rb"))
local body = f:read("*a")
f:close()
local n = 0
request = function()
	n = n + 1
	local v = '"app-version": "' .. tostring(math.random(1, 1000)) .. '"'
	local b = body:gsub('"app%-version": "4%.2%.0"', v)
	return wrk.format(nil, nil, nil, b)
end
LUA
go build -o "$work/gofloor" ./bench/gofloor
"$work/gofloor" -listen 127.0.0.1:$P5 -cert "$work/tls.crt" -key "$work/tls.key" -reports "$work/floor.log" 2>>"$work/serve.log" &
pids+=($!)
echo $! >"$work/pid.$P5"
for _ in $(seq 50); do curl -sk -o /dev/null https://127.0.0.1:$P5/ && break; sleep 0.1; done
r_floor=$(run "reports into the floor (append + group fsync)" https://127.0.0.1:$P5/v1/apps/bench/reports -s "$work/report.lua")
r_sqlite=$(run "reports into SQLite (WAL, synchronous=FULL)" https://127.0.0.1:$P0/v1/apps/bench/reports -s "$work/report.lua")
kill -INT "$(cat "$work/pid.$P0")"; sleep 1   # checkpoint the WAL before measuring
echo "storage after the storm: SQLite $(du -sb "$work/sqlite" | cut -f1) bytes (data directory), floor $(du -b "$work/floor.log" | cut -f1) bytes (the bodies)" | tee -a "$work/sizes.txt" >&2

r_pg=""
if [ -n "${PINSET_TEST_POSTGRES_URL:-}" ] || command -v pg_lsclusters >/dev/null; then
	pgdb=${PG_DB:-pinset_bench}
	eval "$(PINSET_PG_DB=$pgdb bash "$root/.ci/postgres.sh")"
	pgurl=$PINSET_TEST_POSTGRES_URL
	PGPASSWORD=pinset psql -h 127.0.0.1 -U pinset "$pgdb" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null 2>&1 || true
	ptok=$(setup_store --database "$pgurl")
	start_pinset $P2 "$work/pinset" --database "$pgurl"
	PINSET_TOKEN=$ptok "$work/pinset" publish --server https://127.0.0.1:$P2 --cafile "$work/tls.crt" "$work/root.json" "$work/pins.json" >/dev/null
	r_pg=$(run "reports into PostgreSQL" https://127.0.0.1:$P2/v1/apps/bench/reports -s "$work/report.lua")
	echo "storage after the storm: PostgreSQL $(PGPASSWORD=pinset psql -h 127.0.0.1 -U pinset "$pgdb" -Atc "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'") bytes (tables with their indexes and TOAST)" | tee -a "$work/sizes.txt" >&2
fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| run | requests/s | p99 latency | server CPU µs/request | non-2xx/3xx |"
echo "|---|---|---|---|---|"
cat "$work/results.md"
if [[ " $parts " == *" docs "* ]]; then
	echo
	echo "Medians of $rounds rounds ($pinset_tls $pinset_cipher, wrk -t$threads -c$conns -d$dur):"
	echo
	echo "| server | 200 requests/s | 200 CPU µs/request | 304 requests/s | 304 CPU µs/request |"
	echo "|---|---|---|---|---|"
	for srv in $servers; do
		echo "| $srv | $(median "$work/$srv.200" 1) | $(median "$work/$srv.200" 2) | $(median "$work/$srv.304" 1) | $(median "$work/$srv.304" 2) |"
	done
	echo
	for srv in $servers; do
		[ $srv = nginx ] && continue
		echo "$srv/nginx: throughput 200 $(ratio "$(median "$work/$srv.200" 1)" "$(median "$work/nginx.200" 1)"), 304 $(ratio "$(median "$work/$srv.304" 1)" "$(median "$work/nginx.304" 1)"); CPU per request 200 $(ratio "$(median "$work/$srv.200" 2)" "$(median "$work/nginx.200" 2)"), 304 $(ratio "$(median "$work/$srv.304" 2)" "$(median "$work/nginx.304" 2)")"
	done
fi
if [[ " $parts " == *" reports "* ]]; then
	echo
	cat "$work/sizes.txt"
	echo "pinset/floor reports/s: SQLite $(ratio "${r_sqlite%% *}" "${r_floor%% *}")${r_pg:+, PostgreSQL $(ratio "${r_pg%% *}" "${r_floor%% *}")}"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
