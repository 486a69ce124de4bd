import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { RuntimeConfig } from './runtime-config';

/** Where one sandbox's files live on the host. */
export interface SandboxPaths {
  stateDir: string;
  /** The pid of the runv process that owns the sandbox, to tell a live id from a stale one. */
  ownerPid: string;
  consoleLog: string;
  agentSocket: string;
}

export function sandboxPaths(config: RuntimeConfig, id: string): SandboxPaths {
  const stateDir = path.join(config.root, id);
  // Keyed by root and id: two roots may hold the same id, and ids can be 64 hex characters.
  const key = createHash('sha256').update(`${config.root}\0${id}`).digest('hex').slice(0, 16);
  return {
    stateDir,
    ownerPid: path.join(stateDir, 'owner.pid'),
    consoleLog: path.join(stateDir, 'console.log'),
    agentSocket: path.join(config.socketDir, `${key}.agent`),
  };
}
