#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and etcd at $KUBE_VERSION from the Go module proxy into
# $DBOPS_CACHE/k8s-$KUBE_VERSION/bin. A second run with the binaries present is a no-op.
#
# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod points every k8s.io/* staging module at
# ./staging/src/..., so we write a go.mod of our own that replaces each staging module with the matching
# published v0.x.y. The list comes from the kubernetes go.mod itself, so it stays right across versions.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/versions.sh"

# One build at a time per cache: `make demo` and `make test` started together on a fresh machine both get here, and
# two builds writing one source tree and one bin directory break each other. The second waits, then finds the binaries.
mkdir -p "$DBOPS_CACHE"
exec 9>"$DBOPS_CACHE/build-k8s-$KUBE_VERSION.lock"
flock 9

if [[ -x "$KUBE_BIN_DIR/kube-apiserver" && -x "$KUBE_BIN_DIR/kube-controller-manager" && -x "$KUBE_BIN_DIR/etcd" ]]; then
  echo "control plane $KUBE_VERSION already built in $KUBE_BIN_DIR"
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOPROXY="${GOPROXY:-https://proxy.golang.org}"
staging_version="v0.${KUBE_VERSION#v1.}"
src="$DBOPS_CACHE/k8s-$KUBE_VERSION/src"
mkdir -p "$src/etcd" "$KUBE_BIN_DIR"
cp "$here/etcd/main.go" "$src/etcd/main.go"
cd "$src"

kube_mod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
go_line="$(grep -m1 '^go ' "$kube_mod")"
{
  echo "module dbops.local/controlplane"
  echo
  echo "$go_line"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_mod"
  echo ")"
} > go.mod

echo "resolving modules for Kubernetes $KUBE_VERSION (staging $staging_version)…"
go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION"
# Pin etcd to the version kube-apiserver was released with, so its etcd client is not upgraded under it.
etcd_version="$(sed -n 's#^[[:space:]]*go.etcd.io/etcd/server/v3 \(v[0-9.]*\).*#\1#p' "$kube_mod")"
go get "go.etcd.io/etcd/server/v3@$etcd_version"

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
echo "building (this takes several minutes on 2 cores the first time)…"
go build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN_DIR/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
go build -trimpath -ldflags "-s -w" -o "$KUBE_BIN_DIR/etcd" ./etcd
ls -la "$KUBE_BIN_DIR"
