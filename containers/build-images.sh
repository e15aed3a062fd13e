#!/usr/bin/env bash
# Build forkwave's validation images locally: the debootstrapped base, then python and the
# default node image on top of it, then forkwave/node:<version> for each node version or range
# given (arguments, or FORKWAVE_NODE_VERSIONS, space-separated; see build-node.sh). Each image
# is skipped when it exists and carries the hash of the sources it was built from (label
# forkwave.src-hash), so re-running is cheap. Needs a running engine; the base image needs root
# (debootstrap). Options through the environment: see lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FORKWAVE_BASE_TAG=$base bash "$root/containers/build-base.sh"

# build TAG DIR: build containers/DIR as TAG unless an image built from the same sources exists.
build() {
  local hash
  hash=$(src_hash "$2")
  if up_to_date "$1" "$hash"; then log "$1: up to date, skipped"; return; fi
  docker_build "$1" "$2" "$hash"
}
build forkwave/python:3.11 python
build forkwave/node:bookworm node

read -r -a versions <<<"${*:-${FORKWAVE_NODE_VERSIONS:-}}"
for spec in "${versions[@]}"; do
  bash "$root/containers/build-node.sh" "$spec" >/dev/null
done

# Rebuilds leave the previous forkwave images untagged; drop only those.
docker image prune -f --filter label=forkwave.src-hash >/dev/null
log "done"
