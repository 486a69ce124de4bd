#!/usr/bin/env bash
# Brings a fresh Debian/Ubuntu host (as root) to where runv runs containers: system packages,
# npm dependencies, guest-init, the guest image, and libvirtd/virtlogd running. Safe to re-run:
# each step does nothing when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

PACKAGES=(
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev
  linux-image-amd64 busybox-static libxml2-utils xz-utils cpio build-essential pkg-config python3
  tini e2fsprogs xfsprogs
  podman conmon containerd runc docker.io containernetworking-plugins runsc jq iproute2 iperf3
  # dpdk-testpmd, the vhost-user server of the NFV test: Debian ships it in dpdk-dev, not dpdk.
  dpdk-dev
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  command -v node >/dev/null || missing+=(nodejs npm)
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# No systemd on these hosts: start the daemons by hand when they are not running. libvirtd runs
# under tini as a subreaper: QEMU is daemonised, and where PID 1 reaps orphans late (seen here:
# ~1.8 s), libvirt's destroy of every VM would wait for that.
# Alive, not a zombie: PID 1 here reaps late, and a killed daemon lingers as one.
running() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

# libvirt's QEMU driver looks for hugetlbfs mounts only when libvirtd starts: mount it first, so
# that containers can ask for hugepages (io.runv.hugepages) without a restart of libvirtd.
mount_hugetlbfs() {
  grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts && return
  mkdir -p /dev/hugepages
  mount -t hugetlbfs hugetlbfs /dev/hugepages
}

start_libvirt() {
  running virtlogd || { say 'starting virtlogd'; virtlogd -d; }
  running libvirtd || {
    say 'starting libvirtd'
    setsid tini -s -- libvirtd </dev/null >>/var/log/runv-libvirtd.log 2>&1 &
  }
  # A killed daemon leaves its socket file behind: wait until one answers.
  for _ in $(seq 100); do virsh -c qemu:///system version >/dev/null 2>&1 && return; sleep 0.2; done
  say 'libvirtd does not answer on qemu:///system (see /var/log/runv-libvirtd.log)'; exit 1
}

install_npm_deps() {
  [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] && return
  say 'installing npm dependencies'
  npm ci --no-audit --no-fund --loglevel=error
}

install_packages
mount_hugetlbfs
start_libvirt
install_npm_deps
say 'building runv and guest-init'
npm run -s build
./bin/run.js image build
