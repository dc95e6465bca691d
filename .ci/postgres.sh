#!/usr/bin/env bash
# Starts a PostgreSQL cluster on loopback for the store and server tests and
# prints the line that points them at it:
#
#   eval "$(bash .ci/postgres.sh)"
#
# Installs PostgreSQL from Debian packages when it is missing. Idempotent:
# running it again reuses the running cluster, role and database. Everything
# but the final export line goes to stderr. Run as root (fresh Debian
# machine) or as a user who can sudo; the server itself runs as postgres.
set -euo pipefail

PGPORT="${PINSET_PG_PORT:-5432}"
PGDB="${PINSET_PG_DB:-pinset_test}"
PGROLE="${PINSET_PG_USER:-pinset}"
PGPASS="${PINSET_PG_PASSWORD:-pinset}"

log() { echo "postgres.sh: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
	log "installing PostgreSQL from Debian packages"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

ver="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$ver main"; then
	log "creating cluster $ver/main on port $PGPORT"
	as_root pg_createcluster "$ver" main --port "$PGPORT" >&2
fi
conf="/etc/postgresql/$ver/main/postgresql.conf"
port="$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')"
# Loopback only, whatever the packaged defaults say.
if ! grep -q "^listen_addresses = '127.0.0.1'" "$conf"; then
	echo "listen_addresses = '127.0.0.1'" | as_root tee -a "$conf" >/dev/null
fi
status="$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}')"
if [ "$status" != online ]; then
	log "starting cluster $ver/main"
	as_root pg_ctlcluster "$ver" main start >&2
fi
for _ in $(seq 1 50); do
	if as_pg psql -p "$port" -Atqc 'select 1' >/dev/null 2>&1; then break; fi
	sleep 0.2
done

as_pg psql -p "$port" -v ON_ERROR_STOP=1 -qAt >&2 <<SQL
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PGROLE') THEN
    CREATE ROLE $PGROLE LOGIN PASSWORD '$PGPASS';
  ELSE
    ALTER ROLE $PGROLE LOGIN PASSWORD '$PGPASS';
  END IF;
END\$\$;
SQL
if ! as_pg psql -p "$port" -Atqc "select 1 from pg_database where datname='$PGDB'" | grep -q 1; then
	as_pg createdb -p "$port" -O "$PGROLE" "$PGDB" >&2
fi
log "ready: database $PGDB on 127.0.0.1:$port"
echo "export PINSET_TEST_POSTGRES_URL='postgres://$PGROLE:$PGPASS@127.0.0.1:$port/$PGDB?sslmode=disable'"
