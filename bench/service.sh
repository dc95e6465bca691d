#!/usr/bin/env bash
# Load benchmark of the pin service (issue 5), everything on loopback:
#   1. GET /v1/apps/bench/pins.json from `pinset serve` over TLS, without and
#      with If-None-Match, against nginx serving the same file over TLS with
#      the same certificate, in the same run;
#   2. report ingestion (POST /v1/apps/bench/reports, every body distinct)
#      into SQLite and into PostgreSQL.
#
# Usage: bench/service.sh [DURATION] [CONNECTIONS]   (defaults 10s, 64)
# Needs: go, wrk, nginx, openssl, and PostgreSQL for part 2 (Debian packages
# wrk nginx openssl postgresql; .ci/postgres.sh starts the cluster).
# Prints one line per run and a markdown table at the end.
set -euo pipefail

dur=${1:-10s}
conns=${2:-64}
threads=2
root=$(cd "$(dirname "$0")/.." && pwd)
for t in wrk nginx openssl go; do
	command -v $t >/dev/null || { echo "bench/service.sh: $t not found (apt-get install -y wrk nginx openssl)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
go build -o "$work/pinset" ./cmd/pinset
go run ./bench/servicedocs -o "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

cat > "$work/serve.yaml" <<YAML
report_rate: 1000000000
report_burst: 1000000000
log_level: warn
YAML

# start_pinset PORT ARGS... : serve with TLS and wait until ready.
start_pinset() {
	local port=$1; shift
	"$work/pinset" serve --listen 127.0.0.1:$port --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
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
	"$work/pinset" token new --name bench "$@" 2>/dev/null
}

tok=$(setup_store --data "$work/sqlite")
start_pinset 18443 --data "$work/sqlite"
PINSET_TOKEN=$tok "$work/pinset" publish --server https://127.0.0.1:18443 --cafile "$work/tls.crt" "$work/root.json" "$work/pins.json" >/dev/null

mkdir -p "$work/www/v1/apps/bench"
chmod 755 "$work"   # nginx workers run as www-data when started as root
cp "$work/pins.json" "$work/www/v1/apps/bench/pins.json"
chmod -R a+rX "$work/www"
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 1000000;
	default_type application/json;
	client_body_temp_path $work/nginx-tmp;
	proxy_temp_path $work/nginx-tmp;
	fastcgi_temp_path $work/nginx-tmp;
	uwsgi_temp_path $work/nginx-tmp;
	scgi_temp_path $work/nginx-tmp;
	server {
		listen 127.0.0.1:18444 ssl;
		ssl_certificate $work/tls.crt;
		ssl_certificate_key $work/tls.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $work/www;
		etag on;
		add_header Cache-Control "public, max-age=60";
	}
}
NGINX
mkdir -p "$work/nginx-tmp"
nginx -c "$work/nginx.conf" -e "$work/nginx-error.log"
for _ in $(seq 50); do curl -skf https://127.0.0.1:18444/v1/apps/bench/pins.json >/dev/null && break; sleep 0.1; done

pinset_etag=$(curl -sk -D - -o /dev/null https://127.0.0.1:18443/v1/apps/bench/pins.json | awk 'tolower($1)=="etag:"{print $2}' | tr -d '\r')
nginx_etag=$(curl -sk -D - -o /dev/null https://127.0.0.1:18444/v1/apps/bench/pins.json | awk 'tolower($1)=="etag:"{print $2}' | tr -d '\r')
if ! cmp -s <(curl -sk https://127.0.0.1:18443/v1/apps/bench/pins.json) <(curl -sk https://127.0.0.1:18444/v1/apps/bench/pins.json); then
	echo "bench/service.sh: pinset and nginx do not serve the same bytes" >&2; tail -5 "$work/nginx-error.log" >&2; exit 1
fi

# run NAME URL [wrk args...]: prints requests/s and p99 latency.
# server_pids PORT: the processes serving PORT (nginx: its workers).
server_pids() {
	if [ "$1" = 18444 ]; then pgrep -P "$(cat "$work/nginx.pid")"; else cat "$work/pid.$1"; fi
}
# cpu_ticks PID...: user+system CPU ticks the processes used so far.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo $t
}

# run NAME URL [wrk args...]: prints requests/s; records p99 latency and
# the server's CPU time per request (robust to other load on the machine).
run() {
	local name=$1 url=$2; shift 2
	local port=${url#https://127.0.0.1:}; port=${port%%/*}
	local sp; sp=$(server_pids "$port" | tr '\n' ' ')
	local t0; t0=$(cpu_ticks $sp)
	local out
	out=$(wrk -t$threads -c$conns -d"$dur" --latency "$@" "$url")
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

size=$(wc -c <"$work/pins.json")
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "manifest: $size bytes; wrk -t$threads -c$conns -d$dur; $(nproc) cores; $(go version)" >&2
# Each comparison runs A B B A so that load drifting during the run (the
# machine may be shared) hits both sides alike; the ratio uses the means.
# mean "RPS CPU" "RPS CPU": the means of both fields.
mean() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.2f %.2f", (x[1] + y[1]) / 2, (x[2] + y[2]) / 2 }'; }
P=https://127.0.0.1:18443/v1/apps/bench/pins.json
N=https://127.0.0.1:18444/v1/apps/bench/pins.json
a=$(run "pinset pins.json (200) #1" $P); b=$(run "nginx pins.json (200) #1" $N)
c=$(run "nginx pins.json (200) #2" $N); d=$(run "pinset pins.json (200) #2" $P)
p_full=$(mean "$a" "$d"); n_full=$(mean "$b" "$c")
a=$(run "pinset If-None-Match (304) #1" $P -H "If-None-Match: $pinset_etag"); b=$(run "nginx If-None-Match (304) #1" $N -H "If-None-Match: $nginx_etag")
c=$(run "nginx If-None-Match (304) #2" $N -H "If-None-Match: $nginx_etag"); d=$(run "pinset If-None-Match (304) #2" $P -H "If-None-Match: $pinset_etag")
p_304=$(mean "$a" "$d"); n_304=$(mean "$b" "$c")

# Report ingestion: a Lua script makes every body distinct (app-version).
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
	local v = '"app-version": "' .. tostring(math.random(1, 2^30)) .. "." .. n .. '"'
	local b = body:gsub('"app%-version": "4%.2%.0"', v)
	return wrk.format(nil, nil, nil, b)
end
LUA
r_sqlite=$(run "reports into SQLite (WAL, synchronous=FULL)" https://127.0.0.1:18443/v1/apps/bench/reports -s "$work/report.lua")

r_pg=""
if [ -n "${PINSET_TEST_POSTGRES_URL:-}" ] || command -v pg_lsclusters >/dev/null; then
	eval "$(PINSET_PG_DB=pinset_bench bash "$root/.ci/postgres.sh")"
	pgurl=$PINSET_TEST_POSTGRES_URL
	PGPASSWORD=pinset psql -h 127.0.0.1 -U pinset pinset_bench -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null 2>&1 || true
	ptok=$(setup_store --database "$pgurl")
	start_pinset 18445 --database "$pgurl"
	PINSET_TOKEN=$ptok "$work/pinset" publish --server https://127.0.0.1:18445 --cafile "$work/tls.crt" "$work/root.json" "$work/pins.json" >/dev/null
	r_pg=$(run "reports into PostgreSQL" https://127.0.0.1:18445/v1/apps/bench/reports -s "$work/report.lua")
fi

field() { echo "$1" | cut -d' ' -f"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| run | requests/s | p99 latency | server CPU µs/request | non-2xx/3xx |"
echo "|---|---|---|---|---|"
cat "$work/results.md"
echo
echo "means (req/s, CPU us/request): pinset 200 $p_full; nginx 200 $n_full; pinset 304 $p_304; nginx 304 $n_304"
echo "throughput pinset/nginx: 200 $(ratio "$(field "$p_full" 1)" "$(field "$n_full" 1)"), 304 $(ratio "$(field "$p_304" 1)" "$(field "$n_304" 1)")"
echo "CPU per request pinset/nginx: 200 $(ratio "$(field "$p_full" 2)" "$(field "$n_full" 2)"), 304 $(ratio "$(field "$p_304" 2)" "$(field "$n_304" 2)")"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
