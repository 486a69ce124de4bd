import { Flags } from '@oclif/core';
import { RunvError } from '../core/errors';

/** runc's flags of `create` and `run`. */
export const containerFlags = {
  bundle: Flags.string({ char: 'b', summary: 'Path to the OCI bundle.', default: '.' }),
  'pid-file': Flags.string({ summary: 'Write the pid of the process that stands for the container (the shim) here.' }),
  'console-socket': Flags.string({ summary: 'Unix socket to send the pty master to, when process.terminal is true.' }),
  'no-pivot': Flags.boolean({ summary: 'Accepted for runc compatibility: the guest switches root with MS_MOVE either way.' }),
  'no-new-keyring': Flags.boolean({ summary: 'Accepted for runc compatibility: the VM has its own kernel keyring.' }),
  'preserve-fds': Flags.integer({ summary: 'Host file descriptors cannot cross into a VM: only 0 is accepted.', default: 0, min: 0 }),
};

export function refusePreservedFds(count: number): void {
  if (count > 0) throw new RunvError('invalid-argument', `--preserve-fds ${count}: host file descriptors cannot be passed into the container's VM`);
}
