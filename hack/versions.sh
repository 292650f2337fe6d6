# Pinned versions of the real parts the tests run against. Sourced by the other hack/ scripts.
# Changing a version here changes the cache key, so the next `make dev-up` rebuilds.
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
DBOPS_CACHE="${DBOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbops}"
KUBE_BIN_DIR="$DBOPS_CACHE/k8s-$KUBE_VERSION/bin"
DBOPS_RUN_DIR="${DBOPS_RUN_DIR:-${TMPDIR:-/tmp}/dbops-dev}"

# Loopback ports of the local parts; override to run a second environment beside the first.
APISERVER_PORT="${APISERVER_PORT:-6443}"
ETCD_CLIENT_PORT="${ETCD_CLIENT_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-2380}"
KCM_PORT="${KCM_PORT:-10257}"
PG_PORT="${PG_PORT:-15432}"
MARIADB_PORT="${MARIADB_PORT:-13306}"

# The admin accounts the operator is given, as a real deployment would (engines.md 1.6: not superuser on PostgreSQL).
DB_ADMIN_USER="${DB_ADMIN_USER:-dbops_admin}"
DB_ADMIN_PASSWORD="${DB_ADMIN_PASSWORD:-dbops-admin-pw}"
# Superuser accounts, for tests that must inspect or break things behind the operator's back.
PG_SUPERUSER_PASSWORD="${PG_SUPERUSER_PASSWORD:-postgres-superuser-pw}"
MARIADB_ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-mariadb-root-pw}"
