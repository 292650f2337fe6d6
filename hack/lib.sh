# Shared shell helpers for the hack/ scripts. Sourced, not run.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HACK_DIR/versions.sh"
mkdir -p "$DBOPS_RUN_DIR"
chmod 755 "$DBOPS_RUN_DIR"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then log "timed out after ${seconds}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

# pid_alive NAME: the process recorded in $DBOPS_RUN_DIR/NAME.pid is running.
pid_alive() {
  local f="$DBOPS_RUN_DIR/$1.pid"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_bg NAME COMMAND...: start COMMAND detached, logging to NAME.log, its PID in NAME.pid.
start_bg() {
  local name="$1"; shift
  if pid_alive "$name"; then log "$name already running (pid $(cat "$DBOPS_RUN_DIR/$name.pid"))"; return 0; fi
  setsid "$@" >>"$DBOPS_RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$DBOPS_RUN_DIR/$name.pid"
  log "started $name (pid $!), log: $DBOPS_RUN_DIR/$name.log"
}

# stop_pid NAME [SECONDS]: SIGTERM the recorded process, SIGKILL it after SECONDS (default 20).
stop_pid() {
  local name="$1" seconds="${2:-20}" f="$DBOPS_RUN_DIR/$1.pid"
  [[ -f "$f" ]] || return 0
  local pid; pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then log "$name did not stop in ${seconds}s, killing"; kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.1
    done
    log "stopped $name"
  fi
  rm -f "$f"
}
