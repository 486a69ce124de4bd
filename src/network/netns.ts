import * as fs from 'node:fs';
import { RunvError } from '../core/errors';
import { runTool } from '../image/run-tool';

/** The namespace runv itself runs in: a spec naming it would hand the host's interfaces to a VM. */
const OWN_NETNS = '/proc/self/ns/net';

/**
 * Checks that `file` is a network namespace other than runv's own, before anything is created.
 * Every namespace file lives on nsfs, so a file on another filesystem is none; nsenter then
 * refuses a namespace of another type.
 */
export async function checkNetns(file: string): Promise<void> {
  const where = `config.json: linux.namespaces: network namespace ${file}`;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new RunvError('not-found', `${where} ${code === 'ENOENT' ? 'does not exist' : 'cannot be read'} (${code})`);
  }
  const own = fs.statSync(OWN_NETNS);
  if (stat.dev !== own.dev) throw new RunvError('invalid-spec', `${where} is not a namespace`);
  if (stat.ino === own.ino) throw new RunvError('invalid-spec', `${where} is runv's own: the VM would take the host's interfaces`);
  await inNetns(file, ['true']).catch(() => {
    throw new RunvError('invalid-spec', `${where} is not a network namespace`);
  });
}

/** Runs a command inside the network namespace `file` (any path, not only /run/netns names); none: runv's own. */
export function inNetns(file: string | undefined, command: readonly string[], input?: Buffer): Promise<Buffer> {
  return runTool(file ? ['nsenter', `--net=${file}`, '--', ...command] : command, input);
}

/** Runs `tool -batch -` with one command a line: one process for many changes. */
export function batch(file: string | undefined, tool: 'ip' | 'tc', lines: readonly string[]): Promise<Buffer> {
  return inNetns(file, [tool, '-batch', '-'], Buffer.from(lines.join('\n') + '\n'));
}

/** What `ip -j` or `tc -j` reports; an empty answer is an empty list. */
export async function listJson<T>(file: string | undefined, tool: 'ip' | 'tc', args: readonly string[]): Promise<T[]> {
  return JSON.parse((await inNetns(file, [tool, '-j', ...args])).toString() || '[]') as T[];
}
