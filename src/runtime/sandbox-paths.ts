import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { RuntimeConfig } from './runtime-config';

/** Where one sandbox's files live on the host. */
export interface SandboxPaths {
  stateDir: string;
  /** The pid of the runv process that owns the sandbox, to tell a live id from a stale one. */
  ownerPid: string;
  /** The container's lifecycle record (src/lifecycle). */
  stateFile: string;
  consoleLog: string;
  /** The shim's own log, written with --debug: its stderr is the container's. */
  shimLog: string;
  agentSocket: string;
  shimSocket: string;
  /** Bind-mount sources shared with the VM (src/storage): never removed recursively. */
  shareDir: string;
  /**
   * Under the lxc driver: guest-init's binary and the agent socket runv listens on, a directory
   * the domain binds into the container (domain-model.ts, LXC_RUNV_DIR).
   */
  lxcDir: string;
  /** Names of the sandbox's tap devices start with it; an index follows (IFNAMSIZ: 15 bytes). */
  tapPrefix: string;
}

export function sandboxPaths(config: Pick<RuntimeConfig, 'root' | 'socketDir' | 'shareDir'>, id: string): SandboxPaths {
  const stateDir = path.join(config.root, id);
  // Keyed by root and id: two roots may hold the same id, and ids can be 64 hex characters.
  const key = createHash('sha256').update(`${config.root}\0${id}`).digest('hex').slice(0, 16);
  return {
    stateDir,
    ownerPid: path.join(stateDir, 'owner.pid'),
    stateFile: stateFileOf(config.root, id),
    consoleLog: path.join(stateDir, 'console.log'),
    shimLog: path.join(stateDir, 'shim.log'),
    agentSocket: path.join(config.socketDir, `${key}.agent`),
    shimSocket: path.join(config.socketDir, `${key}.shim`),
    shareDir: path.join(config.shareDir, key),
    lxcDir: path.join(config.socketDir, `${key}.lxc`),
    tapPrefix: `rv${key.slice(0, 10)}t`,
  };
}

/** The lifecycle record's file: the only path readers that know no socket directory need. */
export function stateFileOf(root: string, id: string): string {
  return path.join(root, id, 'state.json');
}
