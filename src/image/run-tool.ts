import { spawn } from 'node:child_process';
import { RunvError } from '../core/errors';

/**
 * Runs `command` with `input` on stdin and resolves with everything it wrote to stdout.
 * A missing tool is 'unavailable' (install it), a failing one 'internal' with its stderr.
 */
export function runTool(command: readonly string[], input: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  const [tool, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A tool that rejects its input exits before reading it all; its exit status says why.
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'ENOENT' ? 'unavailable' : 'internal';
      reject(new RunvError(code, `cannot run ${tool}: ${err.message}`, { cause: err }));
    });
    child.on('close', (status, signal) => {
      if (status === 0) return resolve(Buffer.concat(stdout));
      const reason = Buffer.concat(stderr).toString().trim() || `exit ${status ?? signal}`;
      reject(new RunvError('internal', `${command.join(' ')} failed: ${reason}`));
    });
    child.stdin.end(input);
  });
}
