#!/usr/bin/env bash
# Build versitygw (a real S3 gateway over a directory; Apache-2.0) at $VERSITYGW_VERSION from the Go module proxy
# into $DBOPS_CACHE/versitygw-$VERSITYGW_VERSION/bin and print the binary's path on standard output (progress goes
# to standard error, so `gw="$(hack/build-versitygw.sh)"` works). A second run with the binary present is a no-op.
#
# The S3 storage backend is tested against this server (ENGINEERING.md 2): MinIO is AGPL and not used.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/versions.sh"

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
VERSITYGW_BIN_DIR="$DBOPS_CACHE/versitygw-$VERSITYGW_VERSION/bin"
binary="$VERSITYGW_BIN_DIR/versitygw"

# One build at a time per cache: two test sessions started together on a fresh machine both get here, and two
# `go install`s writing one bin directory break each other. The second waits, then finds the binary.
mkdir -p "$DBOPS_CACHE"
exec 9>"$DBOPS_CACHE/build-versitygw-$VERSITYGW_VERSION.lock"
flock 9

if [[ -x "$binary" ]]; then
  echo "versitygw $VERSITYGW_VERSION already built in $VERSITYGW_BIN_DIR" >&2
  echo "$binary"
  exit 0
fi

# A module build outside any main module: GOTOOLCHAIN=local keeps the installed Go (no toolchain download);
# the module cache is Go's own (GOMODCACHE), shared with the control-plane build.
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0 GOPROXY="${GOPROXY:-https://proxy.golang.org}"
mkdir -p "$VERSITYGW_BIN_DIR"
tmp_bin="$(mktemp -d "$VERSITYGW_BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
echo "building versitygw $VERSITYGW_VERSION (a few minutes on 2 cores the first time)…" >&2
# Installed into a temporary directory and moved into place, so an interrupted build never leaves a binary that
# the check above would take for a finished one.
GOBIN="$tmp_bin" go install -trimpath -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
mv "$tmp_bin/versitygw" "$binary"
echo "$binary"
