#!/usr/bin/env bash
# Start or stop a throwaway MariaDB 10.11 on 127.0.0.1:$MARIADB_PORT (Debian's packages) with the operator's admin
# account as engines.md 1.6 describes it in practice: all privileges with grant option, from any host.
#   hack/mariadb.sh start|stop|status
source "$(dirname "$0")/lib.sh"
data="$DBOPS_RUN_DIR/mariadb"
sock="$DBOPS_RUN_DIR/mariadb.sock"
ready() { mariadb-admin --no-defaults --protocol=socket -S "$sock" -uroot -p"$MARIADB_ROOT_PASSWORD" ping 2>/dev/null | grep -q alive ||
          mariadb-admin --no-defaults --protocol=socket -S "$sock" -uroot ping 2>/dev/null | grep -q alive; }

case "${1:-}" in
  start)
    command -v mariadbd >/dev/null || { log "MariaDB is not installed: run hack/install-deps.sh"; exit 1; }
    if [[ ! -d "$data/mysql" ]]; then
      mkdir -p "$data"
      mariadb-install-db --no-defaults --datadir="$data" --user=root --auth-root-authentication-method=normal \
        --skip-test-db >/dev/null
      fresh=1
    fi
    start_bg mariadb mariadbd --no-defaults --datadir="$data" --socket="$sock" --port="$MARIADB_PORT" \
      --bind-address=127.0.0.1 --user=root --pid-file="$DBOPS_RUN_DIR/mariadbd.pid" \
      --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M --skip-name-resolve
    wait_until 60 "MariaDB" ready
    if [[ "${fresh:-0}" == 1 ]]; then
      mariadb --no-defaults --protocol=socket -S "$sock" -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER '$DB_ADMIN_USER'@'%' IDENTIFIED BY '$DB_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_ADMIN_USER'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    fi
    log "MariaDB ready on 127.0.0.1:$MARIADB_PORT (admin $DB_ADMIN_USER)"
    ;;
  stop) stop_pid mariadb 30 ;;
  status) ready && echo "MariaDB ready on 127.0.0.1:$MARIADB_PORT" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
