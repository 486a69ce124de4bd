import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { domainName } from '../src/hypervisor/domain-model';
import { DEFAULT_LIBVIRT_URI, defaultRuntimeConfig } from '../src/runtime/runtime-config';
import { sandboxPaths } from '../src/runtime/sandbox-paths';
import { cliArgs, ContainerTracker, OciRuntime } from './oci-runtimes';
import { liveChildren, sleep } from './processes';

const CLI_TIMEOUT_MS = 60_000;
const RUNV = path.resolve(__dirname, '..', 'bin', 'run.js');

const virsh = (...args: string[]): string => execFileSync('virsh', ['-c', DEFAULT_LIBVIRT_URI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const domainsStartingWith = (prefix: string): string[] =>
  virsh('list', '--all', '--name').split('\n').map((l) => l.trim()).filter((name) => name.startsWith(prefix));

/** Everything the bench made goes, whatever happened: children, containers, domains, sockets, temp files. */
export class Workspace implements ContainerTracker {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-bench-'));
  readonly root = path.join(this.dir, 'root');
  /** The warm pool's runs use a root of their own (bench/pool.ts). */
  readonly poolRoot = path.join(this.dir, 'pool-root');
  /** Unique to this bench run, so that its domains are told apart from anyone else's. */
  private readonly idPrefix = `bench-${process.pid.toString(36)}-`;
  private readonly ids: string[] = [];
  /** Containers created through the runc interface and not deleted yet. */
  private readonly containers = new Map<string, OciRuntime>();
  private cleaned: Promise<void> | undefined;

  newId(kind: string, n: number): string {
    const id = `${this.idPrefix}${kind}${n}`;
    this.ids.push(id);
    return id;
  }

  created(runtime: OciRuntime, id: string): void {
    this.containers.set(id, runtime);
  }

  deleted(id: string): void {
    this.containers.delete(id);
  }

  pidFile(id: string): string {
    return path.join(this.dir, `${id}.pid`);
  }

  consoleLog(id: string): string {
    return sandboxPaths(defaultRuntimeConfig({ root: this.root }), id).consoleLog;
  }

  cleanUp(): Promise<void> {
    this.cleaned ??= this.doCleanUp();
    return this.cleaned;
  }

  private async doCleanUp(): Promise<void> {
    const exits = [...liveChildren].map((child) => new Promise((resolve) => child.once('close', resolve)));
    for (const child of liveChildren) child.kill('SIGKILL');
    await Promise.race([Promise.all(exits), sleep(5000)]);
    for (const [id, runtime] of this.containers) {
      try {
        execFileSync(runtime.command, cliArgs(runtime, 'delete', '--force', id), { stdio: ['ignore', 'ignore', 'pipe'], timeout: CLI_TIMEOUT_MS });
      } catch (error) {
        process.stderr.write(`bench: cannot delete --force ${runtime.name} container ${id}: ${(error as Error).message}\n`);
      }
    }
    // A runv killed mid-run leaves its domain and agent socket behind.
    for (const domain of domainsStartingWith(domainName(this.idPrefix))) {
      try {
        virsh('destroy', domain);
      } catch (error) {
        process.stderr.write(`bench: cannot destroy ${domain}: ${(error as Error).message}\n`);
      }
    }
    // The warm pool's VMs: waiting ones, and those of a warm run that was killed.
    if (fs.existsSync(this.poolRoot)) {
      try {
        execFileSync(RUNV, ['pool', 'drain', '--root', this.poolRoot], { stdio: ['ignore', 'ignore', 'pipe'], timeout: CLI_TIMEOUT_MS });
      } catch (error) {
        process.stderr.write(`bench: cannot drain the warm pool: ${(error as Error).message}\n`);
      }
    }
    const config = defaultRuntimeConfig({ root: this.root });
    for (const id of this.ids) {
      const paths = sandboxPaths(config, id);
      for (const socket of [paths.agentSocket, paths.shimSocket]) fs.rmSync(socket, { force: true });
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    const left = domainsStartingWith(domainName(this.idPrefix));
    if (left.length) throw new Error(`domains left behind: ${left.join(', ')}`);
  }
}

