# Shared by build-images.sh and build-node.sh (sourced): logging, the CA bundle, build contexts,
# source hashes and one `docker build` that skips images already built from the same sources.
#
# Env:
#   FORKWAVE_CA_BUNDLE     CA bundle the fetch stages trust (default: the host's, if any). Only
#                          the stage that downloads from the npm registry sees it.
#   FORKWAVE_BUILD_NETWORK `docker build --network` (e.g. host) when the bridge cannot reach the registry
#   NPM_CONFIG_REGISTRY    registry the fetch stages use (default https://registry.npmjs.org/)
#   HTTP_PROXY, HTTPS_PROXY, NO_PROXY  passed to builds as docker's predefined build args

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${FORKWAVE_BASE_TAG:-forkwave/base:bookworm}
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

ca_bundle() {
  local ca=${FORKWAVE_CA_BUNDLE:-}
  if [[ -z $ca ]]; then
    for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt ""; do [[ -f $ca ]] && break; done
  fi
  printf '%s' "$ca"
}

# make_context DIR: a temporary build context with containers/DIR, the shims and the CA bundle
# (an empty ca.crt without one: the registry is then trusted through the image's own store).
make_context() {
  local ctx ca
  ctx=$(mktemp -d /tmp/forkwave-context.XXXXXX)
  cp -a "$root/containers/$1/." "$ctx/"
  cp -a "$root/containers/shims" "$ctx/shims"
  ca=$(ca_bundle)
  if [[ -n $ca ]]; then cp "$ca" "$ctx/ca.crt"; else : >"$ctx/ca.crt"; fi
  printf '%s' "$ctx"
}

# src_hash DIR EXTRA...: what an image is built from (its Dockerfile folder, the shims, the base
# image's id and any extra words, such as a node version), as the forkwave.src-hash label.
src_hash() {
  local dir=$1 tar=(tar -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner); shift
  { "${tar[@]}" -C "$root/containers/$dir" .
    if [[ $dir == node* ]]; then "${tar[@]}" -C "$root/containers" shims; fi
    docker image inspect -f '{{.Id}}' "$base"
    if (($#)); then echo "$*"; fi; } | sha256sum | cut -c1-16
}

up_to_date() {  # up_to_date TAG HASH
  [[ $(docker image inspect -f '{{index .Config.Labels "forkwave.src-hash"}}' "$1" 2>/dev/null || true) == "$2" ]]
}

build_args() {
  local v
  for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy NPM_CONFIG_REGISTRY; do
    [[ -n ${!v:-} ]] && printf -- '--build-arg\0%s\0' "$v=${!v}"
  done
  [[ -n ${FORKWAVE_BUILD_NETWORK:-} ]] && printf -- '--network\0%s\0' "$FORKWAVE_BUILD_NETWORK"
  return 0
}

# steps TAG: docker build's output in, one log line per build step out (the classic builder's
# "Step 2/6 : RUN ...", BuildKit's "#7 [2/6] RUN ...", each once), as the build reaches it.
steps() {
  awk -v me="$(basename "$0" .sh)" -v tag="$1" \
    '/^(Step [0-9]+\/[0-9]+ :|#[0-9]+ \[)/ && !seen[$0]++ { printf "[%s] %s: %s\n", me, tag, $0; fflush() }'
}

# docker_build TAG DIR HASH [docker build options...]: build containers/DIR as TAG, its steps on
# stderr as they start and its whole output in a log; on failure show the log's tail and exit.
docker_build() {
  local tag=$1 dir=$2 hash=$3 ctx logf extra=()
  shift 3
  mapfile -d '' extra < <(build_args)
  ctx=$(make_context "$dir")
  logf=/tmp/forkwave-build-${tag//[\/:]/-}.log
  log "building $tag (log: $logf)"
  if ! docker build --force-rm --build-arg "BASE_IMAGE=$base" --label "forkwave.src-hash=$hash" "${extra[@]}" "$@" \
         -t "$tag" "$ctx" 2>&1 | tee "$logf" | steps "$tag" >&2; then
    rm -rf "$ctx"
    tail -n 30 "$logf" >&2
    log "building $tag failed (full log: $logf)"
    exit 1
  fi
  rm -rf "$ctx"
  log "$tag: built ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
}
