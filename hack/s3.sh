#!/usr/bin/env bash
# Start or stop a throwaway S3 server on 127.0.0.1:$S3_PORT: versitygw (Apache-2.0; built by hack/build-versitygw.sh)
# over a directory of $DBOPS_RUN_DIR, with the bucket $S3_BUCKET the backup samples write to. The root keys are given
# through the environment, never on the command line.
#   hack/s3.sh start|stop|status
source "$(dirname "$0")/lib.sh"
data="$DBOPS_RUN_DIR/s3"
s3_ready() { curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/"; }
# Body-less requests only: the signed payload hash is the one of the empty string.
s3_request() {
  curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}

case "${1:-}" in
  start)
    binary="$(bash "$HACK_DIR/build-versitygw.sh")"
    mkdir -p "$data"
    ROOT_ACCESS_KEY_ID="$S3_ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$S3_SECRET_KEY" VGW_REGION=us-east-1 \
      start_bg s3 "$binary" --port "127.0.0.1:$S3_PORT" --quiet posix "$data"
    wait_until 30 "the S3 server" s3_ready
    s3_request -o /dev/null "http://127.0.0.1:$S3_PORT/$S3_BUCKET" \
      || s3_request -o /dev/null -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET"
    log "S3 server ready on 127.0.0.1:$S3_PORT, bucket $S3_BUCKET"
    ;;
  stop) stop_pid s3 ;;
  status) pid_alive s3 && s3_ready ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
