#!/bin/sh
# The OCI image of the whole system: one image for every target (`webtoon
# serve <target>`), with HAProxy and the built web files inside, built with
# podman from the Containerfile at the root of the repository. No registry
# is reachable here, so the base image is made from Debian's own packages:
# debootstrap (minbase) and `podman import`.
#
#   scripts/image.sh setup        install podman, runc, catatonit, debootstrap; write the configuration
#   scripts/image.sh base         setup, and the base image localhost/webtoon-base:bookworm (cached)
#   scripts/image.sh build [TAG]  base, and the image localhost/webtoon:TAG (and :latest), saved as
#                                 build/image/webtoon-TAG.oci.tar; prints that path
#   scripts/image.sh push REPOSITORY TAG
#                                 build (or reuse), then push that image as REPOSITORY:TAG
#   scripts/image.sh tag          the default tag of this source tree
#   scripts/image.sh env          the podman settings: eval "$(scripts/image.sh env)"
#
# The default tag is the short commit, or <commit>-dirty-<digest> when a file
# of the build context differs from it (the digest is that of the context).
# An image whose source digest (its label dev.webtoon.source-digest) matches
# the tree is not built again; the archive is written again only when
# missing.
#
# push logs in with REGISTRY_USER and REGISTRY_PASSWORD when they are set
# (the pipelines take them from their credential stores): the password goes
# through stdin, and the login lives in a file of its own, mode 0600,
# removed when the push ends.
#
# Podman runs as root with runc: crun cannot set its rlimits on these
# machines (../shared/notes/ops-toolchain.md), and rootless podman would
# need subordinate ids. Its configuration and its storage are the
# project's own, under ${XDG_CACHE_HOME:-~/.cache}/webtoon/image: the
# containers.conf (runc, ulimits; cgroupfs and a file event log, since
# there is no systemd) and a storage.conf whose graph root is there too
# (its run root, state that must not outlive a reboot, is /run/webtoon).
# Own storage rather than /var/lib/containers: the project never mixes its
# images with the machine's, and `rm -rf` of that directory removes all its
# images, layers and volumes. The base's root file system stays there as a tarball, so a removed
# store imports it again in seconds instead of running debootstrap. As root
# on the kernel's overlayfs, podman needs neither fuse-overlayfs nor
# uidmap. Outside that directory podman still makes its blob cache
# /var/lib/containers/cache (a fixed path) and, for a container with a
# network (tests/image/smoke.sh), the bridge cni-podman0 (10.88.0.0/16)
# with its iptables chains: all inside this machine.
#
# The apt layers are cached like any other: new Debian updates come in
# with a cold build, after removing that directory (about three minutes).
set -eu
. "$(dirname "$0")/lib/mount-root.sh"
mount_root_reexec "$0" "$@"
cd "$(dirname "$0")/.."
root=$(pwd)

cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/image"
base_image=localhost/webtoon-base:bookworm
base_tar="$cache/webtoon-base-bookworm.tar"
repo=localhost/webtoon
mirror=http://deb.debian.org/debian
# What the Containerfile copies: the digest covers these and nothing else.
context_paths="Containerfile .containerignore CMakeLists.txt CMakePresets.json api deploy/haproxy src web"

export CONTAINERS_CONF="$cache/containers.conf"
export CONTAINERS_STORAGE_CONF="$cache/storage.conf"

say() { echo "image: $*" >&2; }

. scripts/lib/packages.sh

# podman with runc (listed, so apt does not pick crun for podman's
# "crun | runc"), catatonit for the infra container of a pod, debootstrap
# for the base; and the configuration files above.
setup() {
  if [ "$(id -u)" -ne 0 ]; then
    say "needs root (rootful podman, debootstrap): run it with sudo"
    exit 1
  fi
  need_packages podman runc catatonit debootstrap debian-archive-keyring
  mkdir -p "$cache"
  cat >"$CONTAINERS_CONF.tmp" <<'EOF'
# Written by scripts/image.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  cat >"$CONTAINERS_STORAGE_CONF.tmp" <<EOF
# Written by scripts/image.sh.
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "/run/webtoon/podman"
EOF
  mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
  mv "$CONTAINERS_STORAGE_CONF.tmp" "$CONTAINERS_STORAGE_CONF"
}

# Debian bookworm minbase with the updates and security suites, made slim
# the way Debian's official -slim images are (no documentation, manual pages
# or translations, now or from later installs), packed as a tarball.
make_rootfs() {
  dir="$cache/rootfs.tmp"
  rm -rf "$dir"
  say "debootstrap --variant=minbase bookworm (about a minute, once)"
  # The keyring named: Ubuntu's debootstrap would otherwise verify with Ubuntu's.
  if ! debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    bookworm "$dir" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -n 20 "$cache/debootstrap.log" >&2
    exit 1
  fi
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  cat >"$dir/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$dir/etc/apt/apt.conf.d/slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
  find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir/usr/share/man/"* "$dir/usr/share/info/"* "$dir/usr/share/lintian"
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$dir/var/cache/apt/"*.bin "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"* \
    "$dir/var/log/"*.log "$dir/var/log/apt/"*
  tar --numeric-owner --xattrs -C "$dir" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf "$dir"
}

base() {
  podman image exists "$base_image" && return 0
  [ -f "$base_tar" ] || make_rootfs
  say "importing $base_tar as $base_image"
  podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$base_tar" "$base_image" >/dev/null
}

# The files of the build context as git sees them (tracked or untracked,
# not ignored), one "sha256  path" line each.
context_files() {
  # A deleted file is still in the index: keep only files that exist.
  # shellcheck disable=SC2086,SC2016
  git ls-files -z --cached --others --exclude-standard --deduplicate -- $context_paths |
    xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
    LC_ALL=C sort -z | xargs -0 sha256sum
}

digest() { context_files | sha256sum | cut -c1-64; }

default_tag() {
  short=$(git rev-parse --short HEAD)
  # shellcheck disable=SC2086
  if [ -z "$(git status --porcelain --untracked-files=all -- $context_paths)" ]; then
    echo "$short"
  else
    echo "$short-dirty-$(digest | cut -c1-12)"
  fi
}

build() {
  tag=${1:-$(default_tag)}
  sum=$(digest)
  archive="$root/build/image/webtoon-$tag.oci.tar"
  have=""
  if podman image exists "$repo:$tag"; then
    have=$(podman image inspect --format '{{index .Labels "dev.webtoon.source-digest"}}' "$repo:$tag")
  fi
  if [ "$have" = "$sum" ]; then
    say "$repo:$tag is built from this tree already"
  else
    base
    version=$(git describe --always --dirty)
    # The commit's time, not the build's: the same commit gives the same labels.
    created=$(TZ=UTC0 git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)
    source=$(git remote get-url origin 2>/dev/null || true)
    # The host's CA bundle, for npm behind a TLS inspecting proxy (a secret:
    # no layer keeps it).
    ca=/etc/ssl/certs/ca-certificates.crt
    secret=""
    [ -s "$ca" ] && secret="--secret=id=ca-certificates,src=$ca"
    say "building $repo:$tag ($version)"
    # shellcheck disable=SC2086
    podman build --isolation=chroot --pull=never -f Containerfile \
      --build-arg VERSION="$version" --build-arg REVISION="$(git rev-parse HEAD)" \
      --build-arg CREATED="$created" --build-arg SOURCE="${WEBTOON_IMAGE_SOURCE:-$source}" \
      --label dev.webtoon.source-digest="$sum" $secret \
      -t "$repo:$tag" -t "$repo:latest" . >&2
    rm -f "$archive"
  fi
  podman tag "$repo:$tag" "$repo:latest"
  if [ ! -f "$archive" ]; then
    mkdir -p "$(dirname "$archive")"
    podman save --format oci-archive -o "$archive.tmp" "$repo:$tag"
    mv "$archive.tmp" "$archive"
  fi
  echo "$archive"
}

# Pushes the image of this tree (built if needed) as <repository>:<tag>.
push() {
  dest="$1:$2"
  src="$repo:$(default_tag)"
  build >/dev/null
  auth="$cache/push-auth.json"
  rm -f "$auth"
  trap 'rm -f "$auth"' EXIT
  if [ -n "${REGISTRY_USER:-}" ]; then
    registry=${1%%/*}
    # A first component without a dot, a colon or "localhost" is a Docker Hub namespace.
    case "$registry" in
    *.* | *:* | localhost) ;;
    *) registry=docker.io ;;
    esac
    (umask 077 && printf '%s' "${REGISTRY_PASSWORD:?REGISTRY_PASSWORD is not set}" |
      podman login --authfile "$auth" --username "$REGISTRY_USER" --password-stdin "$registry" >&2)
  fi
  say "pushing $src as $dest"
  if [ -f "$auth" ]; then
    podman push --authfile "$auth" "$src" "docker://$dest" >&2
  else
    podman push "$src" "docker://$dest" >&2
  fi
  echo "$dest"
}

case "${1:-}" in
setup) setup ;;
base)
  setup
  (flock 9 && base) 9>"$cache/.lock"
  ;;
build)
  setup
  (flock 9 && build "${2:-}") 9>"$cache/.lock"
  ;;
push)
  [ "$#" -eq 3 ] || { echo "usage: scripts/image.sh push REPOSITORY TAG" >&2; exit 2; }
  setup
  (flock 9 && push "$2" "$3") 9>"$cache/.lock"
  ;;
tag) default_tag ;;
env)
  echo "export CONTAINERS_CONF='$CONTAINERS_CONF' CONTAINERS_STORAGE_CONF='$CONTAINERS_STORAGE_CONF'"
  ;;
*)
  echo "usage: scripts/image.sh setup | base | build [TAG] | push REPOSITORY TAG | tag | env" >&2
  exit 2
  ;;
esac
