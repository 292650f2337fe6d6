#!/usr/bin/env bash
# Stop everything hack/dev-up.sh started (and a `make demo` operator) and remove the throwaway data.
source "$(dirname "$0")/lib.sh"
stop_pid operator
bash "$HACK_DIR/s3.sh" stop
bash "$HACK_DIR/mariadb.sh" stop
bash "$HACK_DIR/postgres.sh" stop
bash "$HACK_DIR/controlplane.sh" stop
rm -rf "$DBOPS_RUN_DIR"
log "environment down, $DBOPS_RUN_DIR removed"
