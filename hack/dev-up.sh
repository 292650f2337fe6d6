#!/usr/bin/env bash
# Bring up the whole local environment (control plane, PostgreSQL, MariaDB, an S3 server) and write $DBOPS_RUN_DIR/env.json,
# which the pytest fixtures and `make dev-env` read. Parts already running are left as they are.
#   hack/dev-up.sh [--no-mariadb]
source "$(dirname "$0")/lib.sh"
bash "$HACK_DIR/build-k8s.sh" >&2
bash "$HACK_DIR/controlplane.sh" start
bash "$HACK_DIR/postgres.sh" start
[[ "${1:-}" == "--no-mariadb" ]] || bash "$HACK_DIR/mariadb.sh" start
bash "$HACK_DIR/s3.sh" start
cat > "$DBOPS_RUN_DIR/env.json" <<JSON
{
  "run_dir": "$DBOPS_RUN_DIR",
  "kubeconfig": "$DBOPS_RUN_DIR/kubeconfig",
  "apiserver_url": "https://127.0.0.1:$APISERVER_PORT",
  "token_file": "$DBOPS_RUN_DIR/pki/admin.token",
  "ca_file": "$DBOPS_RUN_DIR/pki/ca.crt",
  "etcd_url": "http://127.0.0.1:$ETCD_CLIENT_PORT",
  "postgres": {"host": "127.0.0.1", "port": $PG_PORT, "admin_user": "$DB_ADMIN_USER", "admin_password": "$DB_ADMIN_PASSWORD",
               "superuser": "postgres", "superuser_password": "$PG_SUPERUSER_PASSWORD", "ca_file": "$DBOPS_RUN_DIR/pki/ca.crt"},
  "mariadb": {"host": "127.0.0.1", "port": $MARIADB_PORT, "admin_user": "$DB_ADMIN_USER", "admin_password": "$DB_ADMIN_PASSWORD",
              "superuser": "root", "superuser_password": "$MARIADB_ROOT_PASSWORD"},
  "s3": {"endpoint": "http://127.0.0.1:$S3_PORT", "access_key": "$S3_ACCESS_KEY", "secret_key": "$S3_SECRET_KEY", "bucket": "$S3_BUCKET"}
}
JSON
log "environment up; run: eval \"\$(make -s dev-env)\""
