import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from './command';
import { HostPaths, HostTraces } from './host-traces';
import { killAndWait, mountsUnder, processesMentioning, unmountUnder } from './leftovers';
import { Runtime, RuntimeRecorder } from './runtime-under-test';

/**
 * The private directory one client runs in (its root, state, sockets, logs), the recorder it
 * calls the runtime through, and what it may leave outside. `cleanUp` runs after the client has
 * stopped by its own means and proves nothing was left: it removes whatever was, then fails
 * naming it.
 */
export class ClientHome {
  readonly recorder: RuntimeRecorder;

  private constructor(
    readonly client: string,
    readonly dir: string,
    readonly runtime: Runtime,
    private readonly traces: HostTraces,
  ) {
    this.recorder = new RuntimeRecorder(path.join(dir, 'runtime'), runtime);
  }

  static create(client: string, runtime: Runtime, host: HostPaths): ClientHome {
    // Short on purpose: sockets go in here, and a unix socket path is limited to 107 bytes.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `runv-${client}-`));
    return new ClientHome(client, dir, runtime, new HostTraces(host));
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  async cleanUp(): Promise<void> {
    const leftovers: string[] = [];
    // Shims and conmon notice their daemon or container went a moment later.
    const lingering = await waitFor('processes to exit', () => {
      const p = processesMentioning(this.dir);
      return p.length === 0 ? [] : undefined;
    }, 10_000).catch(() => processesMentioning(this.dir));
    for (const p of lingering) leftovers.push(`process ${p.pid}: ${p.cmdline.length > 160 ? `${p.cmdline.slice(0, 160)}...` : p.cmdline}`);
    const unkilled = await killAndWait(lingering.map((p) => p.pid));
    leftovers.push(...(await this.traces.remove(this.recorder.containerIds())));
    const mounts = mountsUnder(this.dir);
    if (mounts.length > 0) leftovers.push(`mounts: ${mounts.join(' ')}`);
    const unmounted = unmountUnder(this.dir);
    if (unmounted.length === 0) fs.rmSync(this.dir, { recursive: true, force: true });
    if (unkilled.length > 0) leftovers.push(`processes that would not die: ${unkilled.join(' ')}`);
    if (unmounted.length > 0) leftovers.push(`mounts that would not go (${this.dir} kept): ${unmounted.join(' ')}`);
    if (leftovers.length > 0) throw new Error(`${this.client} left behind:\n  ${leftovers.join('\n  ')}`);
  }
}
