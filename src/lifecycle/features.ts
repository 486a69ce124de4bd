import { OCI_VERSION } from './oci-state';

/**
 * runtime-spec features.md: what a caller may rely on. Namespaces, capabilities, seccomp and
 * the LSMs are the VM's business here, not the host's, so they are reported as not applied.
 */
export function runtimeFeatures(): object {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: [],
    mountOptions: ['ro', 'rw', 'nosuid', 'nodev', 'noexec', 'relatime', 'strictatime', 'noatime', 'sync', 'remount', 'bind', 'rbind'],
    linux: {
      namespaces: ['mount', 'pid', 'uts', 'ipc'],
      capabilities: [],
      cgroup: { v1: false, v2: false, systemd: false, systemdUser: false },
      seccomp: { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: { 'io.runv.isolation': 'vm' },
  };
}
