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
run() {
	local name=$1 url=$2; shift 2
	local out
	out=$(wrk -t$threads -c$conns -d"$dur" --latency "$@" "$url")
	local rps p99 errs
	rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	p99=$(awk '$1=="99%"{print $2}' <<<"$out")
	errs=$(awk '/Non-2xx or 3xx/{print $NF}' <<<"$out")
	echo "$name: $rps req/s, p99 $p99, non-2xx/3xx ${errs:-0}" >&2
	echo "| $name | $rps | $p99 | ${errs:-0} |" >>"$work/results.md"
	echo "$rps"
}

size=$(wc -c <"$work/pins.json")
echo "manifest: $size bytes; wrk -t$threads -c$conns -d$dur; $(nproc) cores; $(go version)" >&2
p_full=$(run "pinset pins.json (200)" https://127.0.0.1:18443/v1/apps/bench/pins.json)
n_full=$(run "nginx pins.json (200)" https://127.0.0.1:18444/v1/apps/bench/pins.json)
p_304=$(run "pinset pins.json If-None-Match (304)" https://127.0.0.1:18443/v1/apps/bench/pins.json -H "If-None-Match: $pinset_etag")
n_304=$(run "nginx pins.json If-None-Match (304)" https://127.0.0.1:18444/v1/apps/bench/pins.json -H "If-None-Match: $nginx_etag")

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

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| run | requests/s | p99 latency | non-2xx/3xx |"
echo "|---|---|---|---|"
cat "$work/results.md"
echo
echo "pinset/nginx, 200: $(ratio "$p_full" "$n_full"); pinset/nginx, 304: $(ratio "$p_304" "$n_304")"
