#!/usr/bin/env bash
# Print the shell exports for the running local environment: eval "$(make -s dev-env)".
source "$(dirname "$0")/lib.sh"
[[ -f "$DBOPS_RUN_DIR/env.json" ]] || { echo "echo 'environment not up: run make dev-up' >&2"; exit 1; }
cat <<ENV
export KUBECONFIG='$DBOPS_RUN_DIR/kubeconfig'
export DBOPS_PG_URL='postgresql://$DB_ADMIN_USER:$DB_ADMIN_PASSWORD@127.0.0.1:$PG_PORT/postgres?sslmode=require'
export DBOPS_MARIADB_URL='mysql://$DB_ADMIN_USER:$DB_ADMIN_PASSWORD@127.0.0.1:$MARIADB_PORT/'
export DBOPS_RUN_DIR='$DBOPS_RUN_DIR'
ENV
