# Sourced by the scripts that run container tools (podman, containerd, runc):
#   . scripts/lib/mount-root.sh; mount_root_reexec "$0" "$@"
#
# Those tools need "/" to be the root mount of its mount namespace: they make
# it private and pivot into new roots, and entering a running container
# (podman exec, kubectl exec: setns) lands at the top of the namespace's root
# mount. In a plain chroot, as ../shared/tools/fresh-debian-check (a fresh
# Debian in a chroot) runs `make test`, "/" is only a directory of the
# machine's root file system, and all of that fails ("remount /: invalid
# argument", "chdir to cwd: no such file or directory").
#
# There the script runs itself again in a mount namespace of its own whose
# root mount is the chroot's directory, the shape a container runtime gives
# its containers: in the new namespace it finds that directory's path from
# the namespace's top (a chroot bounds path names, not mounts), binds it onto
# itself, pivots into it and detaches the rest. Nothing outside the chroot is
# run or kept. The pid stays (every step execs), and so do the environment
# and the working directory. On a machine or in a container "/" is a mount
# point and nothing happens.
mount_root_reexec() {
  mountpoint -q / && return 0
  [ -z "${WEBTOON_ROOT_REBOUND:-}" ] || { echo "$1: / is still not a mount point" >&2; exit 1; }
  WEBTOON_ROOT_REBOUND=1
  export WEBTOON_ROOT_REBOUND
  exec unshare -m --propagation unchanged perl -e '
    my ($cwd, @cmd) = @ARGV;
    opendir(my $root, "/") or die "mount-root: /: $!\n";
    my $hole = "/tmp/.mount-root-$$";
    mkdir $hole;
    chroot $hole or die "mount-root: chroot: $!\n";
    chdir ".." for 1 .. 256;
    chroot "." or die "mount-root: chroot: $!\n";
    my $dir = readlink("/proc/self/fd/" . fileno($root)) or die "mount-root: readlink: $!\n";
    system("mount", "--rbind", $dir, $dir) == 0 or die "mount-root: cannot bind $dir\n";
    chdir $dir or die "mount-root: $dir: $!\n";
    system("pivot_root", ".", "mnt") == 0 or die "mount-root: pivot_root failed\n";
    chroot "." or die "mount-root: chroot: $!\n";
    system("umount", "-l", "/mnt") == 0 or die "mount-root: cannot detach the old root\n";
    rmdir $hole;
    chdir $cwd or die "mount-root: $cwd: $!\n";
    exec { $cmd[0] } @cmd or die "mount-root: $cmd[0]: $!\n";
  ' "$PWD" "$@"
}
