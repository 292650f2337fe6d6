#!/usr/bin/env bash
# Install everything the environment and the tests need on a fresh Debian machine: Debian packages, the Python
# virtualenv with the project and its dev extras, and the Go-built control plane. Safe to run again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

packages=(postgresql-15 postgresql-client-15 mariadb-server mariadb-client kubectl openssl curl ca-certificates)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # The packages' postinst would start system-wide servers; our scripts start throwaway ones instead.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x "$root/.venv/bin/python" ]]; then
  log "creating the Python virtualenv in .venv"
  python3 -m venv "$root/.venv"
fi
if ! "$root/.venv/bin/python" -c 'import dbops, pytest, kubernetes_asyncio' 2>/dev/null || [[ "$root/pyproject.toml" -nt "$root/.venv/.installed" ]]; then
  log "installing Python dependencies"
  "$root/.venv/bin/pip" install -q --upgrade pip
  "$root/.venv/bin/pip" install -q -e "$root[dev]"
  touch "$root/.venv/.installed"
fi

bash "$here/build-k8s.sh"
bash "$here/build-versitygw.sh" >/dev/null
bash "$here/build-fake-gcs-server.sh" >/dev/null
