# Pinned versions of the real parts the tests run against. Sourced by the other hack/ scripts.
# Changing a version here changes the cache key, so the next `make dev-up` rebuilds.
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
DBOPS_CACHE="${DBOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbops}"
KUBE_BIN_DIR="$DBOPS_CACHE/k8s-$KUBE_VERSION/bin"

# Two environments can run side by side on one machine, each with its own run directory and loopback ports:
#   dev  (the default): `make dev-up` / `make demo`, in $DBOPS_RUN_DIR (default /tmp/dbops-dev);
#   test (DBOPS_PROFILE=test): the one `make test` starts for itself, in $DBOPS_TEST_RUN_DIR (default
#        /tmp/dbops-test), ports 10000 higher, so a test run never reads, changes or deletes what the demo made.
# Each port can still be overridden one by one.
if [[ "${DBOPS_PROFILE:-dev}" == test ]]; then
  DBOPS_RUN_DIR="${DBOPS_TEST_RUN_DIR:-${TMPDIR:-/tmp}/dbops-test}"
  port_offset=10000
else
  DBOPS_RUN_DIR="${DBOPS_RUN_DIR:-${TMPDIR:-/tmp}/dbops-dev}"
  port_offset=0
fi
APISERVER_PORT="${APISERVER_PORT:-$((6443 + port_offset))}"
ETCD_CLIENT_PORT="${ETCD_CLIENT_PORT:-$((2379 + port_offset))}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-$((2380 + port_offset))}"
KCM_PORT="${KCM_PORT:-$((10257 + port_offset))}"
PG_PORT="${PG_PORT:-$((15432 + port_offset))}"
MARIADB_PORT="${MARIADB_PORT:-$((13306 + port_offset))}"
S3_PORT="${S3_PORT:-$((9000 + port_offset))}"

# The admin accounts the operator is given, as a real deployment would (engines.md 1.6: not superuser on PostgreSQL).
DB_ADMIN_USER="${DB_ADMIN_USER:-dbops_admin}"
DB_ADMIN_PASSWORD="${DB_ADMIN_PASSWORD:-dbops-admin-pw}"
# Superuser accounts, for tests that must inspect or break things behind the operator's back.
PG_SUPERUSER_PASSWORD="${PG_SUPERUSER_PASSWORD:-postgres-superuser-pw}"
MARIADB_ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-mariadb-root-pw}"
# The local S3 server's root keys (hack/s3.sh) and the bucket the backup samples write to (config/samples).
S3_ACCESS_KEY="${S3_ACCESS_KEY:-dbops-demo-access}"
S3_SECRET_KEY="${S3_SECRET_KEY:-dbops-demo-secret-key}"
S3_BUCKET="${S3_BUCKET:-dbops-backups}"
