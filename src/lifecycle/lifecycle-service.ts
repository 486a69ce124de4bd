import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject, injectable } from 'inversify';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { DomainState, Hypervisor } from '../core/ports';
import { domainName } from '../hypervisor/domain-model';
import { poolVmPaths } from '../pool/pool-layout';
import { VmPool } from '../pool/vm-pool';
import { NetworkService } from '../network/network-service';
import { sandboxFromBundle } from '../runtime/bundle';
import { RuntimeConfig, translateDefaults } from '../runtime/runtime-config';
import { checkExecutable } from '../runtime/rootfs-executable';
import { sandboxPaths } from '../runtime/sandbox-paths';
import { StorageService } from '../storage/storage-service';
import { ProcessList, ShimClient, ShimStats } from '../shim/shim-api';
import { launchDetached } from '../shim/shim-launch';
import type { ShimArgs } from '../shim/shim-main';
import { writeFileAtomic } from './atomic-file';
import { ContainerRecord, ContainerStatus, requireStatus } from './container-state';
import { runHostHooksWarning } from './hooks';
import { OCI_VERSION, toOciState } from './oci-state';
import { isSameProcessAlive } from './process-identity';
import { StateStore } from './state-store';
import { LinuxResources, refuseUnsupported } from '../oci/cgroup-resources';

export interface CreateRequest {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  debug: boolean;
}

/** Marks a container `list` knows only from libvirt's metadata: its state dir is gone. */
export const RECOVERED_ANNOTATION = 'io.runv.recovered-from';
const SHIM_MAIN = path.join(__dirname, '..', 'shim', 'shim-main.js');
const LIVE: readonly ContainerStatus[] = ['created', 'running', 'paused'];
const SHIM_EXIT_TIMEOUT_MS = 30_000;
const SHIM_EXIT_POLL_MS = 25;

/**
 * The OCI lifecycle as runc's commands expose it. `create` leaves a shim behind; every other
 * command reads the container's record and, when it must act, asks that shim.
 */
@injectable()
export class LifecycleService {
  readonly store: StateStore;

  constructor(
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(StorageService) private readonly storage: StorageService,
    @inject(NetworkService) private readonly network: NetworkService,
    @inject(VmPool) private readonly pool: VmPool,
    @inject(Logger) private readonly log: Logger,
  ) {
    this.store = new StateStore(config);
  }

  /** Boots the container's VM through a new shim; resolves with the shim's pid once created. */
  async create(request: CreateRequest): Promise<number> {
    const sandbox = sandboxFromBundle(request.id, request.bundle, translateDefaults(this.config));
    checkConsole(sandbox.process.terminal, request.consoleSocket);
    // A disk image's files are the guest's to look up.
    if (sandbox.storage !== 'block') checkExecutable(sandbox.rootfsPath, sandbox.process);
    const pidFile = request.pidFile && path.resolve(request.pidFile);
    if (pidFile) checkWritableDir(pidFile);
    if (this.store.exists(request.id)) {
      throw new RunvError('already-exists', `container ${JSON.stringify(request.id)} already exists`);
    }
    const args: ShimArgs = { config: this.config, id: request.id, bundle: sandbox.bundle, consoleSocket: request.consoleSocket, debug: request.debug };
    const pid = await launchDetached(SHIM_MAIN, args, request.consoleSocket ? 'ignore' : 'inherit');
    this.log.debug('lifecycle', 'container created', { id: request.id, shimPid: pid });
    if (pidFile) {
      try {
        writePidFile(pidFile, pid);
      } catch (error) {
        await this.delete(request.id, true);
        throw error;
      }
    }
    return pid;
  }

  /** Resolves with warnings for the caller (failed poststart hooks). */
  start(id: string): Promise<string[]> {
    return this.withShim(id, 'start', ['created'], (shim) => shim.start());
  }

  kill(id: string, signal: number, all: boolean): Promise<void> {
    return this.withShim(id, 'kill', LIVE, (shim) => shim.kill(signal, all));
  }

  pause(id: string): Promise<void> {
    return this.withShim(id, 'pause', ['running'], (shim) => shim.pause());
  }

  resume(id: string): Promise<void> {
    return this.withShim(id, 'resume', ['paused'], (shim) => shim.resume());
  }

  processes(id: string): Promise<ProcessList> {
    return this.withShim(id, 'list the processes of', ['created', 'running'], (shim) => shim.processes());
  }

  stats(id: string): Promise<ShimStats> {
    return this.withShim(id, 'get the stats of', LIVE, (shim) => shim.stats());
  }

  /** Changes the container's memory, cpu and pids limits; what a VM cannot change is refused by name. */
  update(id: string, resources: LinuxResources): Promise<void> {
    refuseUnsupported(resources);
    return this.withShim(id, 'update', ['created', 'running'], (shim) => shim.update(JSON.stringify(resources)));
  }

  /** A client of a container's shim, after checking the container is in a status the action needs. */
  shimFor(id: string, action: string, allowed: readonly ContainerStatus[]): ShimClient {
    const record = this.store.read(id);
    requireStatus(record, action, allowed);
    return new ShimClient(id, sandboxPaths(this.config, id).shimSocket);
  }

  private async withShim<T>(id: string, action: string, allowed: readonly ContainerStatus[], use: (shim: ShimClient) => Promise<T>): Promise<T> {
    const shim = this.shimFor(id, action, allowed);
    try {
      return await use(shim);
    } finally {
      shim.close();
    }
  }

  /**
   * Removes a stopped container; --force first ends a live one. Whatever a dead shim left (its
   * VM, its sockets) goes too, so nothing outlives the record. Then the poststop hooks run;
   * resolves with their failures as warnings.
   */
  async delete(id: string, force: boolean): Promise<string[]> {
    if (!this.store.exists(id)) {
      // A state dir that was lost (/run wiped): libvirt still knows the domain and who made it.
      if (await this.removeOrphan(id)) return [];
      // runc's --force deletes what exists: callers (containerd's shim) run it after a plain delete.
      if (force) return [];
    }
    let record = this.store.read(id);
    if (record.status !== 'stopped') {
      if (!force && record.status !== 'created') {
        throw new RunvError('invalid-state', `cannot delete container ${JSON.stringify(id)} that is not stopped: it is ${record.status} (use --force)`);
      }
      await this.endShim(record);
      // A foreground run deletes its container itself as it ends, poststop hooks included.
      if (!this.store.exists(id)) return [];
      record = this.store.read(id);
    }
    // A shim that recorded the exit tore its VM, binds and taps down; one that died did not.
    if (record.exitStatus === undefined) {
      if (record.pooledVm) await this.pool.release(record.pooledVm, record.networkNamespace);
      else await this.destroyOwnDomain(id, record.networkNamespace);
    }
    this.removeHostFiles(id);
    this.log.debug('lifecycle', 'container deleted', { id });
    return runHostHooksWarning('poststop', record.poststop, toOciState({ ...record, status: 'stopped' }));
  }

  /**
   * Every container under --root: the records, and the domains libvirt holds for this root
   * whose records are gone (a lost state dir), so that nothing runs that runv cannot see.
   */
  async list(): Promise<ContainerRecord[]> {
    const records = this.store.list();
    const known = new Set(records.map((r) => r.id));
    const orphans = (await this.hypervisor.listOwned())
      .filter((d) => d.owner.root === this.config.root && !d.owner.pool && !known.has(d.owner.id))
      .map((d) => recoveredRecord(d.owner.id, d.owner.bundle, d.state));
    return [...records, ...orphans].sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * The file the container's VM console is logged to (libvirt writes it, virtlogd behind it), and
   * whether the VM may still write to it. Reading it never touches the console itself.
   */
  async consoleLog(id: string): Promise<{ file: string; live: boolean }> {
    const record = this.store.read(id);
    const vm = record.pooledVm ? poolVmPaths(this.config, record.pooledVm) : { domain: domainName(id), consoleLog: sandboxPaths(this.config, id).consoleLog };
    const live = record.status !== 'stopped' && (await this.hypervisor.stateOf(vm.domain)) !== undefined;
    return { file: vm.consoleLog, live };
  }

  /**
   * Destroys the id's domain only if runv made it for this root (a same-named foreign one
   * stays), with its binds and taps; a lost record took the netns with it, so only host taps go.
   */
  private async destroyOwnDomain(id: string, networkNamespace?: string): Promise<boolean> {
    const name = domainName(id);
    const owner = await this.hypervisor.ownerOf(name);
    if (owner?.id !== id || owner.root !== this.config.root) return false;
    await this.hypervisor.destroy(name);
    await this.storage.removeLeftovers(id);
    await this.network.remove(sandboxPaths(this.config, id).tapPrefix, networkNamespace);
    return true;
  }

  private async removeOrphan(id: string): Promise<boolean> {
    if (!(await this.destroyOwnDomain(id))) return false;
    this.removeHostFiles(id);
    this.log.debug('lifecycle', 'orphan domain removed (no state record)', { id });
    return true;
  }

  private removeHostFiles(id: string): void {
    const paths = sandboxPaths(this.config, id);
    for (const file of [paths.agentSocket, paths.shimSocket]) fs.rmSync(file, { force: true });
    fs.rmSync(paths.stateDir, { recursive: true, force: true });
  }

  private async endShim(record: ContainerRecord): Promise<void> {
    const client = new ShimClient(record.id, sandboxPaths(this.config, record.id).shimSocket);
    try {
      await client.destroy();
    } catch {
      // A shim that does not answer (still booting, or wedged) is ended the hard way.
      if (isSameProcessAlive(record.pid, record.pidStartTicks)) process.kill(record.pid, 'SIGKILL');
    } finally {
      client.close();
    }
    const deadline = Date.now() + SHIM_EXIT_TIMEOUT_MS;
    while (isSameProcessAlive(record.pid, record.pidStartTicks)) {
      if (Date.now() > deadline) process.kill(record.pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, SHIM_EXIT_POLL_MS));
    }
  }
}

/** What libvirt's metadata tells of a container whose record is lost; the shim's pid is not known. */
function recoveredRecord(id: string, bundle: string, state: DomainState): ContainerRecord {
  const status: ContainerStatus = state === 'running' ? 'running' : state === 'paused' ? 'paused' : 'stopped';
  return { ociVersion: OCI_VERSION, id, status, pid: 0, pidStartTicks: 0, bundle, rootfs: '', created: '', owner: '', annotations: { [RECOVERED_ANNOTATION]: 'libvirt' } };
}

/** runc's rule: a terminal needs a console socket to go to, and a console socket needs a terminal. */
function checkConsole(terminal: boolean, consoleSocket: string | undefined): void {
  if (terminal && !consoleSocket) throw new RunvError('invalid-argument', 'config.json: process.terminal is true: a --console-socket is needed to receive the terminal');
  if (!terminal && consoleSocket) throw new RunvError('invalid-argument', '--console-socket was given but config.json: process.terminal is false');
}

function checkWritableDir(file: string): void {
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch (error) {
    throw new RunvError('invalid-argument', `--pid-file ${file}: cannot write in ${path.dirname(file)} (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** Callers read it as soon as runv exits: written whole, or not at all. */
export function writePidFile(file: string, pid: number): void {
  try {
    writeFileAtomic(file, String(pid));
  } catch (error) {
    throw new RunvError('invalid-argument', `--pid-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
