#!/usr/bin/env bash
# The operator's main job on the local default: with the environment up (make dev-up), install the CRDs, start the
# operator as a local process, apply the samples into namespace dbops-demo and show what a user would see.
# Everything is left running until `make dev-down`.
source "$(dirname "$0")/lib.sh"
root="$(cd "$HACK_DIR/.." && pwd)"
export KUBECONFIG="$DBOPS_RUN_DIR/kubeconfig"
ns="${DEMO_NAMESPACE:-dbops-demo}"

if [[ ! -f "$root/config/crd/kustomization.yaml" ]]; then
  echo "operator not built yet: the CRDs (config/crd) do not exist; the environment is up — see: make dev-env"
  exit 0
fi
kubectl apply --server-side -k "$root/config/crd" >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
log "CRDs installed"

if [[ ! -f "$root/dbops/__main__.py" ]]; then
  echo "operator not built yet: the CRDs are installed; the controllers have not landed (no dbops/__main__.py)"
  exit 0
fi
# The operator's namespace is where a ClusterDatabaseInstance reads its admin Secret (behaviour.md 6.1): the demo's.
POD_NAMESPACE="$ns" POD_NAME=dbops-demo start_bg operator "$root/.venv/bin/python" -m dbops --kubeconfig "$KUBECONFIG" \
  --metrics-bind-address 127.0.0.1:8080 --health-probe-bind-address 127.0.0.1:8081
wait_until 60 "the operator's /readyz" curl -sf http://127.0.0.1:8081/readyz

kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# Every sample as it is; the backup writes to the local S3 server that `make dev-up` started (hack/s3.sh).
kubectl apply -n "$ns" -k "$root/config/samples" >/dev/null
wait_until 120 "the sample instance to become Ready" \
  bash -c "kubectl get -n '$ns' dbi -o jsonpath='{.items[*].status.phase}' | grep -q Ready"
wait_until 120 "the sample database and user to become Ready" \
  bash -c "kubectl get -n '$ns' db,dbu -o jsonpath='{.items[*].status.phase}' | grep -qv -e Pending -e Creating -e '^$'"
# Roles and grants follow: they wait (Pending, DependencyNotReady) until the sample database they grant on is Ready.
all_ready() { [[ -n "$1" && -z "$(tr ' ' '\n' <<<"$1" | grep -v '^Ready$')" ]]; }
wait_until 120 "the sample roles and grants to become Ready" bash -c "$(declare -f all_ready); \
  all_ready \"\$(kubectl get -n '$ns' dbr,dbg -o jsonpath='{.items[*].status.phase}') \$(kubectl get cdbr,cdbg -o jsonpath='{.items[*].status.phase}')\""
# The backup runs once the sample database is Ready; the restore waits for it, then loads it into a new database.
wait_until 180 "the sample backup and restore to complete" bash -c \
  "[[ \"\$(kubectl get -n '$ns' databasebackups,databaserestores -o jsonpath='{.items[*].status.phase}')\" == 'Completed Completed' ]]"
# A permitted cross-namespace reference: a team namespace's Database on the sample instance, which consents.
kubectl apply -k "$root/config/samples/cross-namespace" >/dev/null
wait_until 120 "the team's Database in dbops-demo-team to become Ready" \
  bash -c "kubectl get -n dbops-demo-team db team-reports -o jsonpath='{.status.phase}' | grep -q Ready"
kubectl get -n "$ns" dbi,db,dbu
echo
kubectl get -n dbops-demo-team db
echo
kubectl get -n "$ns" dbr,dbg
echo
kubectl get -n "$ns" databasebackups,databaserestores
echo
kubectl get cdbi,cdbr,cdbg
echo
kubectl get events -n "$ns" --sort-by=.lastTimestamp
echo
kubectl get events -n dbops-demo-team --sort-by=.lastTimestamp
echo
kubectl get events -n default --sort-by=.lastTimestamp --field-selector involvedObject.apiVersion=dbops.dbprovision.io/v1alpha1
echo
bash "$HACK_DIR/demo-check.sh"
echo "The operator keeps running (log: $DBOPS_RUN_DIR/operator.log, metrics: http://127.0.0.1:8080/metrics)."
echo "Use it with: eval \"\$(make -s dev-env)\"; stop everything with: make dev-down"
