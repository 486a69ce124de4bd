import { ExecFileException, execFile } from 'node:child_process';
import * as path from 'node:path';
import { RunvError } from '../core/errors';

/**
 * runc's --console-socket protocol: the caller (conmon, a containerd shim) listens on a unix
 * socket and expects the runtime to send it a pty master with SCM_RIGHTS. Node cannot pass file
 * descriptors, so a small native helper (native/console-socket.c) makes the pty and sends it;
 * runv keeps only the slave's path, which the shim opens to relay the container's terminal.
 */

/** The same from src/ (ts-node) and dist/ (compiled): both sit two levels under the root. */
export const CONSOLE_SOCKET_HELPER = path.join(__dirname, '..', '..', 'native', 'build', 'runv-console-socket');

export interface ConsoleSize {
  rows: number;
  cols: number;
}

// The helper's exit statuses (see native/console-socket.c).
const SOCKET_FAILED = 1;

/**
 * Sends a new pty's master to the listener at `socketPath`, sized if `size` is given, and
 * resolves with the slave's path. The listener then owns the pty: once it closes the master,
 * the pty is gone.
 */
export async function sendConsoleMaster(socketPath: string, size?: ConsoleSize): Promise<string> {
  const args = size ? [socketPath, dimension('rows', size.rows), dimension('cols', size.cols)] : [socketPath];
  return new Promise((resolve, reject) => {
    execFile(CONSOLE_SOCKET_HELPER, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(helperError(error, stderr));
      else resolve(stdout.trim());
    });
  });
}

function dimension(name: keyof ConsoleSize, value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RunvError('invalid-argument', `console size: ${name} must be an integer from 0 to 65535, not ${value}`);
  }
  return String(value);
}

/** A socket that cannot take the pty is the caller's argument at fault; anything else is ours. */
function helperError(error: ExecFileException, stderr: string): RunvError {
  if (error.code === 'ENOENT') {
    return new RunvError('internal', `${CONSOLE_SOCKET_HELPER} is missing: build it with make -C native`, { cause: error });
  }
  const message = stderr.trim() || `${CONSOLE_SOCKET_HELPER} failed: ${error.message}`;
  return new RunvError(error.code === SOCKET_FAILED ? 'invalid-argument' : 'internal', message, { cause: error });
}
