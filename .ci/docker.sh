#!/usr/bin/env bash
# Make a Docker engine and forkwave's images available on this machine.
#
# No container registry is reachable, so nothing is pulled: the engine comes
# from Debian's docker.io, and every image is built locally on top of a
# debootstrapped base (containers/build-base.sh). Re-running is cheap: each
# step is skipped when its result is already there and up to date.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[docker.sh] %s\n' "$*"; }
[[ $EUID -eq 0 ]] || { log "must run as root (apt-get, dockerd, debootstrap)"; exit 1; }

# --- packages: only touch apt (and its slow update) when something is missing.
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Recommends would drag in apparmor, needrestart, ... which are no use here.
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
       >/tmp/forkwave-apt.log 2>&1; then
    tail -n 30 /tmp/forkwave-apt.log >&2
    log "apt-get failed (full log: /tmp/forkwave-apt.log)"
    exit 1
  fi
fi

# --- engine: no init system here, so dockerd is started by hand when needed.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  # setsid: keep the daemon alive after this script (and its process group) ends.
  setsid dockerd >/tmp/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    log "dockerd did not answer within 60 s; last lines of /tmp/dockerd.log:"
    tail -n 30 /tmp/dockerd.log >&2
    exit 1
  fi
fi
log "engine up: $(docker version -f 'server {{.Server.Version}}')"

# --- images (also `doit images`): skipped when present and built from the same sources. The
# node versions are the ones the docker tests pin (examples/berry-nx/.nvmrc); anything else a
# test asks for is built on demand, as a check would.
bash "$root/containers/build-images.sh" "$(cat "$root/examples/berry-nx/.nvmrc")"
