#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 on 127.0.0.1:$PG_PORT (Debian's packages), with TLS from the local CA,
# SCRAM password authentication over TCP, and the operator's admin account as engines.md 1.6 describes it:
# LOGIN CREATEDB CREATEROLE + pg_signal_backend + pg_read_all_data, deliberately not a superuser.
#   hack/postgres.sh start|stop|status
source "$(dirname "$0")/lib.sh"
pg_bin="$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)"
data="$DBOPS_RUN_DIR/postgres"
sockdir="$DBOPS_RUN_DIR/pgsock"
as_pg() { runuser -u postgres -- "$@"; }
pg_ready() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
psql_super() { as_pg "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$PG_PORT" -U postgres -d postgres "$@"; }

case "${1:-}" in
  start)
    [[ -n "$pg_bin" ]] || { log "PostgreSQL 15 is not installed: run hack/install-deps.sh"; exit 1; }
    bash "$HACK_DIR/certs.sh"
    if [[ ! -f "$data/PG_VERSION" ]]; then
      mkdir -p "$data" "$sockdir"; chown postgres:postgres "$data" "$sockdir"; chmod 700 "$data"
      as_pg "$pg_bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
      install -o postgres -g postgres -m 600 "$DBOPS_RUN_DIR/pki/serving.crt" "$data/server.crt"
      install -o postgres -g postgres -m 600 "$DBOPS_RUN_DIR/pki/serving.key" "$data/server.key"
      cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdir'
ssl = on
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
      fresh=1
    fi
    if ! pg_ready; then
      touch "$DBOPS_RUN_DIR/postgres.log"; chown postgres:postgres "$DBOPS_RUN_DIR/postgres.log"
      as_pg "$pg_bin/pg_ctl" -D "$data" -l "$DBOPS_RUN_DIR/postgres.log" -w -t 60 start >/dev/null
    fi
    wait_until 60 "PostgreSQL" pg_ready
    if [[ "${fresh:-0}" == 1 ]]; then
      psql_super <<SQL
ALTER ROLE postgres PASSWORD '$PG_SUPERUSER_PASSWORD';
CREATE ROLE "$DB_ADMIN_USER" LOGIN CREATEDB CREATEROLE PASSWORD '$DB_ADMIN_PASSWORD';
GRANT pg_signal_backend, pg_read_all_data TO "$DB_ADMIN_USER";
SQL
    fi
    log "PostgreSQL ready on 127.0.0.1:$PG_PORT (admin $DB_ADMIN_USER)"
    ;;
  stop)
    if [[ -f "$data/postmaster.pid" ]]; then as_pg "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true; log "stopped PostgreSQL"; fi
    ;;
  status) pg_ready && echo "PostgreSQL ready on 127.0.0.1:$PG_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
