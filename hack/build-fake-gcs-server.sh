#!/usr/bin/env bash
# Build fake-gcs-server (a real Google Cloud Storage JSON-API emulator over a directory; BSD-2-Clause) at
# $FAKE_GCS_SERVER_VERSION from the Go module proxy into $DBOPS_CACHE/fake-gcs-server-$FAKE_GCS_SERVER_VERSION/bin
# and print the binary's path as the last line of standard output (progress goes to standard error, so
# `gcs="$(hack/build-fake-gcs-server.sh)"` works). A second run with the binary present is a no-op.
#
# The GCS storage backend is tested against this server (ENGINEERING.md 2): it speaks the JSON API with resumable
# uploads, which is what dbops/storage/gcs.py uses.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/versions.sh"

FAKE_GCS_SERVER_VERSION="${FAKE_GCS_SERVER_VERSION:-v1.56.1}"
FAKE_GCS_SERVER_BIN_DIR="$DBOPS_CACHE/fake-gcs-server-$FAKE_GCS_SERVER_VERSION/bin"
binary="$FAKE_GCS_SERVER_BIN_DIR/fake-gcs-server"

# One build at a time per cache: two test sessions started together on a fresh machine both get here, and two
# `go install`s writing one bin directory break each other. The second waits, then finds the binary.
mkdir -p "$DBOPS_CACHE"
exec 9>"$DBOPS_CACHE/build-fake-gcs-server-$FAKE_GCS_SERVER_VERSION.lock"
flock 9

if [[ -x "$binary" ]]; then
  echo "fake-gcs-server $FAKE_GCS_SERVER_VERSION already built in $FAKE_GCS_SERVER_BIN_DIR" >&2
  echo "$binary"
  exit 0
fi

# A module build outside any main module: GOTOOLCHAIN=local keeps the installed Go (no toolchain download);
# the module cache is Go's own (GOMODCACHE), shared with the other builds.
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0 GOPROXY="${GOPROXY:-https://proxy.golang.org}"
mkdir -p "$FAKE_GCS_SERVER_BIN_DIR"
tmp_bin="$(mktemp -d "$FAKE_GCS_SERVER_BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
echo "building fake-gcs-server $FAKE_GCS_SERVER_VERSION (a few minutes on 2 cores the first time)…" >&2
# Niced, since the machine's two cores are shared; installed into a temporary directory and moved into place, so an
# interrupted build never leaves a binary that the check above would take for a finished one.
GOBIN="$tmp_bin" nice -n 19 go install -trimpath -ldflags "-s -w" \
  "github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION" >&2
mv "$tmp_bin/fake-gcs-server" "$binary"
echo "$binary"
