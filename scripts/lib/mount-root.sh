# Sourced by the scripts that run container tools (podman, containerd, runc):
#   . scripts/lib/mount-root.sh; mount_root_reexec "$0" "$@"
#
# Those tools make "/" private or pivot into a new root inside mount
# namespaces of their own, which fails where "/" is not a mount point: in a
# plain chroot, as ../shared/tools/fresh-debian-check (a fresh Debian in a
# chroot) runs `make test` (podman: "remount /, flags: 0x44000: invalid
# argument"). There the script runs itself again in a mount namespace of its
# own whose root is "/" bound onto /mnt, which is a mount point; the pid stays
# (every step execs), and so do the environment and the working directory.
# On a machine or in a container, "/" is a mount point and nothing happens.
mount_root_reexec() {
  mountpoint -q / && return 0
  [ -z "${WEBTOON_ROOT_REBOUND:-}" ] || { echo "$1: / is still not a mount point" >&2; exit 1; }
  WEBTOON_ROOT_REBOUND=1
  export WEBTOON_ROOT_REBOUND
  exec unshare -m --propagation unchanged sh -c '
    mount --rbind / /mnt && cd /mnt || exit 1
    exec chroot . sh -c '\''cd "$1" && shift && exec "$@"'\'' sh "$@"
  ' sh "$PWD" "$@"
}
