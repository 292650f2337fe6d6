#!/usr/bin/env bash
# Start or stop the local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager (garbage
# collection, namespace deletion, ServiceAccount tokens) on 127.0.0.1. There is no kubelet: pods never run; the
# operator under test runs as a local process against this API server.
#   hack/controlplane.sh start|stop|status|start-apiserver|stop-apiserver
source "$(dirname "$0")/lib.sh"
pki="$DBOPS_RUN_DIR/pki"
kubeconfig="$DBOPS_RUN_DIR/kubeconfig"
apiserver_url="https://127.0.0.1:$APISERVER_PORT"

write_kubeconfig() {
  cat > "$kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: dbops-dev
  cluster:
    server: $apiserver_url
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    token: $(cat "$pki/admin.token")
contexts:
- name: dbops-dev
  context: {cluster: dbops-dev, user: admin, namespace: default}
current-context: dbops-dev
KCFG
  chmod 600 "$kubeconfig"
}

apiserver_ready() {
  curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $(cat "$pki/admin.token")" "$apiserver_url/readyz" | grep -q ok
}

start_etcd() {
  start_bg etcd "$KUBE_BIN_DIR/etcd" --data-dir "$DBOPS_RUN_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
  wait_until 60 "etcd" curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_apiserver() {
  start_bg kube-apiserver "$KUBE_BIN_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$pki/serving.crt" --tls-private-key-file "$pki/serving.key" \
    --client-ca-file "$pki/ca.crt" \
    --token-auth-file "$pki/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/24 \
    --disable-admission-plugins ServiceAccount \
    --profiling="${DBOPS_APISERVER_PROFILING:-false}" --v=1
  wait_until 120 "kube-apiserver /readyz" apiserver_ready
  log "kube-apiserver ready at $apiserver_url"
}

start_controller_manager() {
  local kcfg="$DBOPS_RUN_DIR/controller-manager.kubeconfig"
  sed 's/namespace: default/namespace: kube-system/' "$kubeconfig" > "$kcfg"
  start_bg kube-controller-manager "$KUBE_BIN_DIR/kube-controller-manager" \
    --kubeconfig "$kcfg" --authentication-kubeconfig "$kcfg" --authorization-kubeconfig "$kcfg" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --controllers garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --leader-elect=false --v=1
  wait_until 60 "kube-controller-manager /healthz" curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
}

case "${1:-}" in
  start)
    [[ -x "$KUBE_BIN_DIR/kube-apiserver" ]] || { log "control plane not built: run hack/build-k8s.sh"; exit 1; }
    bash "$HACK_DIR/certs.sh"
    write_kubeconfig
    start_etcd
    start_apiserver
    start_controller_manager
    ;;
  start-apiserver) start_apiserver ;;
  stop-apiserver) stop_pid kube-apiserver 30 ;;
  stop)
    stop_pid kube-controller-manager
    stop_pid kube-apiserver 30
    stop_pid etcd
    ;;
  status) apiserver_ready && echo "kube-apiserver ready at $apiserver_url" ;;
  *) echo "usage: $0 start|stop|status|start-apiserver|stop-apiserver" >&2; exit 2 ;;
esac
