#!/usr/bin/env bash
# Build forkwave/base:bookworm straight from Debian packages.
#
# No container registry is reachable from our machines, so `FROM debian` is not
# an option: the root filesystem is made with debootstrap from the same Debian
# mirror apt already uses on this host, then imported as an image.
#
# Env:
#   FORKWAVE_DEBIAN_MIRROR           mirror for the rootfs and the image's apt
#                                    (default: the host's own bookworm mirror)
#   FORKWAVE_DEBIAN_SECURITY_MIRROR  security mirror (default: the host's, if any;
#                                    set it empty to leave security out)
#   FORKWAVE_BASE_TAG                image tag (default forkwave/base:bookworm)
set -euo pipefail

suite=bookworm
tag=${FORKWAVE_BASE_TAG:-forkwave/base:$suite}
log() { printf '[build-base] %s\n' "$*"; }

# Print "<suite> <uri>" for every enabled deb source apt reads on this host,
# both one-line (*.list) and deb822 (*.sources) formats.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '$1 == "deb" {
           i = 2
           if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }   # skip [options]
           print $(i + 1), $i
         }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
         {
           t = u = s = ""; e = "yes"
           for (i = 1; i <= NF; i++) {
             if ($i ~ /^[ \t]*#/ || $i !~ /:/) continue
             k = tolower(substr($i, 1, index($i, ":") - 1))
             v = substr($i, index($i, ":") + 1)
             if (k == "types") t = v; else if (k == "uris") u = v
             else if (k == "suites") s = v; else if (k == "enabled") e = tolower(v)
           }
           if (t !~ /(^|[ \t])deb([ \t]|$)/ || e ~ /no/) next
           nu = split(u, U, " "); ns = split(s, S, " ")
           for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print S[b], U[a]
         }' "$f"
  done
}

first_uri_for() { apt_sources | awk -v s="$1" '$1 == s { sub(/\/+$/, "", $2); print $2; exit }'; }

mirror=${FORKWAVE_DEBIAN_MIRROR:-$(first_uri_for "$suite")}
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
# Set but empty means "no security source" (e.g. a mirror-only site).
security=${FORKWAVE_DEBIAN_SECURITY_MIRROR-$(first_uri_for "$suite-security")}
security=${security%/}

# The label lets callers rebuild when this script or the mirror changes.
src_hash=$( { cat "${BASH_SOURCE[0]}"; echo "$suite $mirror $security"; } | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "forkwave.src-hash"}}' "$tag" 2>/dev/null || true)
if [[ $have == "$src_hash" ]]; then
  log "$tag: up to date, skipped"
  exit 0
fi
[[ -n $have ]] && log "$tag: stale (script or mirror changed), rebuilding"

command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
[[ $EUID -eq 0 ]] || { log "must run as root (debootstrap needs it)"; exit 1; }

work=$(mktemp -d /var/tmp/forkwave-base.XXXXXX)
rootfs=$work/rootfs
cleanup() {
  # debootstrap bind-mounts/mounts proc, sys, dev... into the target and may
  # leave them behind on failure: unmount before deleting, and never let rm
  # cross into another filesystem (that would be the host's /dev or /sys).
  awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

log "debootstrap $suite from $mirror (about a minute; log: $work/debootstrap.log)"
if ! debootstrap --variant=minbase --include=ca-certificates --components=main \
       "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  [[ -f $rootfs/debootstrap/debootstrap.log ]] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
  log "debootstrap failed"; exit 1
fi

# apt inside the image must reach the same mirror the host uses.
{
  echo "deb $mirror $suite main"
  echo "deb $mirror $suite-updates main"
  [[ -n $security ]] && echo "deb $security $suite-security main"
} >"$rootfs/etc/apt/sources.list"

# Mirrors here may serve a dated snapshot whose Release files are past their
# Valid-Until; carry the host's decision over so `apt-get update` behaves alike.
if apt-config dump 2>/dev/null | grep -qi '^Acquire::Check-Valid-Until "\(false\|0\|no\)"'; then
  printf 'Acquire::Check-Valid-Until "false";\n' >"$rootfs/etc/apt/apt.conf.d/99forkwave-snapshot"
fi

# Same size-keeping settings the official Debian images ship: no apt caches,
# no translations, compressed indexes, no docs/man/locales from later installs.
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
printf 'Acquire::GzipIndexes "true";\n' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CONF
# Services must not try to start during image builds.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

# Drop what the excludes above would have kept out, plus caches and host leftovers
# (Docker provides resolv.conf/hostname/hosts at run time).
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* \
       "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
       "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* \
       "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf "$rootfs"/debootstrap
mkdir -p "$rootfs/var/cache/apt/archives/partial"

log "importing $tag"
tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["bash"]' \
  --change "LABEL forkwave.src-hash=$src_hash forkwave.debian-mirror=$mirror" \
  - "$tag" >/dev/null
log "$tag: built ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
