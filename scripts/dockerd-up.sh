#!/usr/bin/env bash
# Starts dockerd in the background when no engine answers (no systemd on the
# controller here). Waits up to 60 s for it.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null; then
  echo "dockerd-up: no dockerd; run scripts/setup-host.sh" >&2; exit 1
fi
mkdir -p /var/log
echo "dockerd-up: starting dockerd (log: /var/log/dockerd.log)"
nohup dockerd --storage-driver=overlay2 >/var/log/dockerd.log 2>&1 &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd-up: engine did not answer in 60 s; see /var/log/dockerd.log" >&2
exit 1
