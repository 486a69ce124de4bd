import { spawn } from 'node:child_process';
import { RunvError } from '../core/errors';
import { Hook, HookKind } from '../core/model';
import { OciState } from './oci-state';

/** What a failed hook said on stderr, kept to one readable line of an error message. */
const MAX_STDERR_QUOTE = 200;

/**
 * Runs a lifecycle step's hooks on the host, one after another, each with the container's state
 * JSON on stdin and only the environment the spec gives it. The first that fails, does not
 * start or outlives its timeout fails the step.
 */
export async function runHostHooks(kind: HookKind, hooks: readonly Hook[] | undefined, state: OciState): Promise<void> {
  for (const hook of hooks ?? []) await runHook(kind, hook, JSON.stringify(state));
}

/** For the steps whose failure the spec only wants logged (poststart, poststop): the warnings. */
export async function runHostHooksWarning(kind: HookKind, hooks: readonly Hook[] | undefined, state: OciState): Promise<string[]> {
  const warnings: string[] = [];
  for (const hook of hooks ?? []) await runHook(kind, hook, JSON.stringify(state)).catch((error: Error) => warnings.push(error.message));
  return warnings;
}

function runHook(kind: HookKind, hook: Hook, stateJson: string): Promise<void> {
  const [argv0, ...args] = hook.args;
  const env = Object.fromEntries(hook.env.map(splitEnv));
  const failed = (why: string): RunvError => new RunvError('hook', `${kind} hook ${hook.path} ${why}`);
  return new Promise((resolve, reject) => {
    // In its own process group, so that a timeout ends whatever the hook started as well.
    const child = spawn(hook.path, args, { argv0, env, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    const kill = (): void => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = hook.timeoutSeconds ? setTimeout(kill, hook.timeoutSeconds * 1000) : undefined;
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4 * MAX_STDERR_QUOTE)));
    // A hook that does not read its stdin is no failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stateJson);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(failed(`cannot be run: ${error.code ?? error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(failed(`timed out after ${hook.timeoutSeconds} s`));
      if (code === 0) return resolve();
      const said = quote(stderr);
      reject(failed(`${signal ? `was killed by ${signal}` : `exited with status ${code}`}${said ? `: ${said}` : ''}`));
    });
  });
}

function splitEnv(entry: string): [string, string] {
  const at = entry.indexOf('=');
  return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
}

function quote(stderr: string): string {
  const line = stderr.trim().split('\n').pop() ?? '';
  return line.length > MAX_STDERR_QUOTE ? `...${line.slice(-MAX_STDERR_QUOTE)}` : line;
}
