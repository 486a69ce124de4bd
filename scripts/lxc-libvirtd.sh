#!/usr/bin/env bash
# Runs a libvirtd for runv's lxc driver where the host's cgroup layout breaks libvirt's LXC
# driver (docs/design.md, Drivers): hybrid v1 + a cgroup2 mount whose cgroup.controllers is not
# empty. libvirt 9.0 then bind-mounts the v2 hierarchy into the container before it has put a
# tmpfs on the container's /sys/fs/cgroup, and mkdir there fails ("Unable to create directory
# /sys/fs/cgroup/unified"). This daemon runs in a mount namespace of its own in which the v2
# mount is absent, so libvirt uses v1 alone. Nothing changes for other programs: its state,
# config and sockets are its own, and the host's libvirtd keeps serving qemu:///system.
#
#   scripts/lxc-libvirtd.sh start|stop|uri      (RUNV_LXC_DIR, default /run/runv/lxc-libvirtd)
set -euo pipefail
dir=${RUNV_LXC_DIR:-/run/runv/lxc-libvirtd}
uri="lxc:///system?socket=$dir/libvirt-sock"

answers() { virsh -c "$uri" version >/dev/null 2>&1; }

start() {
  answers && return
  mkdir -p "$dir"
  printf 'unix_sock_dir = "%s"\nunix_sock_group = "root"\n' "$dir" >"$dir/libvirtd.conf"
  # Private state, config and cache: this daemon must neither see nor autostart the host's domains.
  setsid tini -s -- unshare -m --propagation private sh -c '
    if grep -q " /sys/fs/cgroup/unified cgroup2 " /proc/self/mounts; then umount /sys/fs/cgroup/unified; fi
    for d in /run/libvirt /var/lib/libvirt /etc/libvirt /var/cache/libvirt; do mkdir -p "$d"; mount -t tmpfs tmpfs "$d"; done
    exec libvirtd --config "$1/libvirtd.conf" --pid-file "$1/libvirtd.pid"' sh "$dir" </dev/null >>"$dir/libvirtd.log" 2>&1 &
  for _ in $(seq 100); do answers && return; sleep 0.1; done
  echo "lxc-libvirtd: no answer on $uri (see $dir/libvirtd.log)" >&2
  exit 1
}

stop() {
  [ -f "$dir/libvirtd.pid" ] || return 0
  kill "$(cat "$dir/libvirtd.pid")" 2>/dev/null || true
  rm -f "$dir/libvirtd.pid"
}

case "${1:-start}" in
  start) start; echo "$uri" ;;
  stop) stop ;;
  uri) echo "$uri" ;;
  *) echo "usage: $0 start|stop|uri" >&2; exit 2 ;;
esac
