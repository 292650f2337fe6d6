#!/usr/bin/env bash
# Check that the demo (`make demo`) is healthy: its operator answers /readyz, every sample object of a kind that has a
# controller is Ready (backups and restores: Completed), and no Warning event was ever emitted about a dbops object. Exits 1 naming what is wrong.
# `make demo` runs it last; .ci/run runs it again after `make test` to prove the tests left the demo alone.
source "$(dirname "$0")/lib.sh"
export KUBECONFIG="$DBOPS_RUN_DIR/kubeconfig"
ns="${DEMO_NAMESPACE:-dbops-demo}"
team_ns=dbops-demo-team  # config/samples/cross-namespace
probe="${DEMO_PROBE_ADDRESS:-127.0.0.1:8081}"
problems=0
problem() { echo "demo-check: $*" >&2; problems=$((problems + 1)); }

curl -sf "http://$probe/readyz" >/dev/null || problem "the demo operator does not answer http://$probe/readyz"
# The kinds with a controller in this build (schedules have none yet). One-shot kinds end Completed, not Ready.
namespaced="databaseinstances,databases,databaseusers,databaseroles,databasegrants,databasebackups,databaserestores"
cluster="clusterdatabaseinstances,clusterdatabaseroles,clusterdatabasegrants"
count=0
while read -r kind name phase; do
  [[ -n "$kind" ]] || continue
  count=$((count + 1))
  case "$kind" in
    DatabaseBackup | DatabaseRestore) [[ "$phase" == Completed ]] || problem "$kind $name is ${phase:-<no phase>}, not Completed" ;;
    *) [[ "$phase" == Ready ]] || problem "$kind $name is ${phase:-<no phase>}, not Ready" ;;
  esac
done < <(
  kubectl get -n "$ns" "$namespaced" -o jsonpath='{range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name} {.status.phase}{"\n"}{end}'
  kubectl get "$cluster" -o jsonpath='{range .items[*]}{.kind} {.metadata.name} {.status.phase}{"\n"}{end}'
  kubectl get -n "$team_ns" databases -o jsonpath='{range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name} {.status.phase}{"\n"}{end}'
)
((count >= 11)) || problem "only $count demo objects found (expected the 10 samples with a controller and the team's Database)"
for events_ns in "$ns" "$team_ns" default; do
  warnings="$(kubectl get events -n "$events_ns" --field-selector type=Warning \
    -o jsonpath='{range .items[?(@.involvedObject.apiVersion=="dbops.dbprovision.io/v1alpha1")]}{.involvedObject.kind}/{.involvedObject.name} {.reason}: {.message}{"\n"}{end}')"
  [[ -z "$warnings" ]] || problem "Warning events in namespace $events_ns:"$'\n'"$warnings"
done
if ((problems)); then exit 1; fi
echo "demo-check: the operator is ready, all $count demo objects are Ready or Completed, no Warning events"
