#!/usr/bin/env bash
# Build forkwave's validation images locally: the debootstrapped base, then python and
# node on top of it. Each image is skipped when it exists and carries the hash of the
# sources it was built from (label forkwave.src-hash), so re-running is cheap.
# Needs a running engine; the base image needs root (debootstrap).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[build-images] %s\n' "$*"; }
base=forkwave/base:bookworm
FORKWAVE_BASE_TAG=$base bash "$root/containers/build-base.sh"

# build TAG DIR: build containers/DIR as TAG unless an image built from the
# same Dockerfile on the same base already exists.
build() {
  local tag=$1 dir=$root/containers/$2 base_id src_hash have logf
  base_id=$(docker image inspect -f '{{.Id}}' "$base")
  src_hash=$( { tar -C "$dir" -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner . ; echo "$base_id"; } | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{index .Config.Labels "forkwave.src-hash"}}' "$tag" 2>/dev/null || true)
  if [[ $have == "$src_hash" ]]; then
    log "$tag: up to date, skipped"
    return
  fi
  log "building $tag"
  logf=/tmp/forkwave-build-${2//\//-}.log
  if ! docker build --build-arg "BASE_IMAGE=$base" --label "forkwave.src-hash=$src_hash" \
         -t "$tag" "$dir" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    log "building $tag failed (full log: $logf)"
    exit 1
  fi
  log "$tag: built"
}
build forkwave/python:3.11 python
build forkwave/node:bookworm node

# Rebuilds leave the previous forkwave images untagged; drop only those.
docker image prune -f --filter label=forkwave.src-hash >/dev/null
log "done"
