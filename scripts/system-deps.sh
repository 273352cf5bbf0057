#!/usr/bin/env bash
# Install the system packages the tests need, from Debian, only when they are missing:
# a PostgreSQL server (initdb/pg_ctl) for the concurrency tests, Chromium for browser tests and
# redis-server for the shared rate-limit tests (tests/redis starts its own on a free port).
set -euo pipefail

need=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then need+=(postgresql); fi
if ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
if ! command -v redis-server >/dev/null 2>&1; then need+=(redis-server); fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing from Debian: ${need[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
