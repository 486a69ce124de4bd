#!/usr/bin/env bash
# Makes a small OCI bundle whose rootfs is Debian's static busybox, for the demo and by hand.
# Usage: make-busybox-bundle.sh DIR [ARGS...]   (default args print a greeting from the VM)
set -euo pipefail
dir=${1:?usage: make-busybox-bundle.sh DIR [ARGS...]}
shift
runv="$(cd "$(dirname "$0")/.." && pwd)/bin/run.js"
mkdir -p "$dir/rootfs/bin"
for d in proc sys dev tmp etc root; do mkdir -p "$dir/rootfs/$d"; done
chmod 1777 "$dir/rootfs/tmp"
install -m 0755 /bin/busybox "$dir/rootfs/bin/busybox"
# Relative links: absolute ones (busybox --install -s) would point at host paths.
for applet in $("$dir/rootfs/bin/busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"; done
rm -f "$dir/config.json"
"$runv" spec --bundle "$dir"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(sh -c 'echo "hello from $(hostname), a VM running $(uname -sr)"; cat /proc/cpuinfo | grep -m1 "model name"')
node -e '
  const fs = require("fs"); const file = process.argv[1] + "/config.json";
  const spec = JSON.parse(fs.readFileSync(file, "utf8"));
  spec.process.args = process.argv.slice(2); spec.process.terminal = false;
  fs.writeFileSync(file, JSON.stringify(spec, null, "\t") + "\n");' "$dir" "${args[@]}"
echo "$dir"
