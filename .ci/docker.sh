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
  apt-get update -qq
  # Recommends would drag in apparmor, needrestart, ... which are no use here.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
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

# --- images
bash "$root/containers/build-base.sh"

# build TAG DIR: build containers/DIR as TAG unless an image built from the
# same Dockerfile on the same base already exists.
build() {
  local tag=$1 dir=$root/containers/$2 base_id src_hash have logf
  base_id=$(docker image inspect -f '{{.Id}}' forkwave/base:bookworm)
  src_hash=$( { tar -C "$dir" -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner . ; echo "$base_id"; } | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{index .Config.Labels "forkwave.src-hash"}}' "$tag" 2>/dev/null || true)
  if [[ $have == "$src_hash" ]]; then
    log "$tag: up to date, skipped"
    return
  fi
  log "building $tag"
  logf=/tmp/forkwave-build-${2//\//-}.log
  if ! docker build --label "forkwave.src-hash=$src_hash" -t "$tag" "$dir" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    log "building $tag failed (full log: $logf)"
    exit 1
  fi
  log "$tag: built"
}
build forkwave/python:3.11 python
build forkwave/node:bookworm node
log "done"
