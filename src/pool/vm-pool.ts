import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject, injectable } from 'inversify';
import { AgentClient } from '../agent/agent-client';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { Hypervisor } from '../core/ports';
import { chooseDriver, hostKvmFacts } from '../hypervisor/accel';
import { DomainInterface, DomainModel, vmToDomain } from '../hypervisor/domain-model';
import { buildDomainXml } from '../hypervisor/domain-xml';
import { hostTscKhz } from '../hypervisor/host-tsc';
import { ImageStore } from '../image/image-store';
import { NetworkService } from '../network/network-service';
import { resourcesOf } from '../oci/to-sandbox';
import { OciSpec } from '../oci/spec';
import { tuningOf } from '../oci/tuning';
import { CleanupStack } from '../runtime/cleanup-stack';
import { awaitGuest, createOwnedDomain, delay, driverTemplate } from '../runtime/launch-support';
import { RuntimeConfig } from '../runtime/runtime-config';
import { claimFile, claimHolder, newPoolMac, newPoolVmName, POOL_NICS, POOL_TAG, POOL_VM_NAME, PoolClaim, poolDir, PoolVmInfo, PoolVmPaths, poolVmPaths, shapeOf } from './pool-layout';
import { FillerLock, isAlive, thisProcess } from './pool-lock';
import { makeShare, removeShare } from './pool-share';
import { readdirIfThere, removeEntry } from '../storage/host-mounts';
import { poolDriver } from './pooled-container';

export type PoolVmStatus = 'booting' | 'ready' | 'claimed' | 'dead';

export interface PoolVmEntry {
  paths: PoolVmPaths;
  status: PoolVmStatus;
  info?: PoolVmInfo;
  /** Who took it. */
  claim?: PoolClaim;
}

/** A pool VM that a container took: the caller connects to its agent and gives it the container. */
export interface ClaimedVm {
  paths: PoolVmPaths;
  info: PoolVmInfo;
}

/** The entry point of a detached filler (`runv pool fill` in the background after a claim). */
const FILLER_MAIN = path.join(__dirname, 'pool-main.js');
const LOCK_POLL_MS = 100;
/** How long a drain waits for a filler it asked to stop (it removes the VM it was booting). */
const FILLER_STOP_MS = 30_000;

/**
 * The warm pool of one --root (pool-layout.ts): boots VMs ahead of time, hands each to at most
 * one container, and removes what a VM leaves on the host once it is gone.
 */
@injectable()
export class VmPool {
  constructor(
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(ImageStore) private readonly images: ImageStore,
    @inject(NetworkService) private readonly network: NetworkService,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /**
   * Boots VMs until `size` wait ready or booting, one at a time (each boot takes a core under
   * TCG). Dead ones go first. One filler runs per pool: another returns at once, and the one
   * that runs looks again for a refill asked for meanwhile. `aborted` stops it, cleaning up.
   */
  async fill(size: number, options: { progress?: (message: string) => void; requested?: boolean; aborted?: AbortSignal } = {}): Promise<void> {
    const { progress = () => undefined, aborted } = options;
    let requested = options.requested ?? false;
    for (;;) {
      const unlock = this.lock().tryTake();
      if (!unlock) return progress('another filler is running');
      try {
        // A background filler whose request a drain took back has nothing to do.
        if (requested && !removeFile(this.refillRequest())) return;
        await this.removeDead();
        for (let waiting = await this.waiting(); waiting < size; waiting = await this.waiting()) {
          aborted?.throwIfAborted();
          const paths = await this.boot(aborted);
          progress(`${paths.domain} ready (${waiting + 1} of ${size})`);
        }
      } finally {
        unlock();
      }
      // A claim made while this filler held the lock found it taken: its refill is this one's.
      if (!fs.existsSync(this.refillRequest())) return;
      requested = true;
    }
  }

  /** Spawns a filler that brings the pool back to its configured size, without waiting for it. */
  refillInBackground(): void {
    if (this.config.poolSize <= 0) return;
    fs.writeFileSync(this.refillRequest(), '');
    const child = spawn(process.execPath, [FILLER_MAIN, JSON.stringify({ config: this.config, size: this.config.poolSize })], { detached: true, stdio: 'ignore' });
    child.on('error', (error) => this.log.debug('pool', `cannot start a filler: ${error.message}`));
    child.unref();
  }

  /**
   * Takes a ready VM of that shape for container `id`, or none. Renaming `ready` to a claim
   * naming this process is the lock: of two claimers exactly one gets the VM. A VM whose domain
   * is gone is removed instead.
   */
  async claim(shape: string, id: string): Promise<ClaimedVm | undefined> {
    for (const entry of await this.entries()) {
      if (entry.status !== 'ready' || !entry.info || entry.info.shape !== shape) continue;
      const claim = takeReady(entry.paths);
      if (!claim) continue;
      fs.writeFileSync(claim, JSON.stringify({ id } satisfies Omit<PoolClaim, 'holder'>));
      if ((await this.hypervisor.stateOf(entry.paths.domain).catch(() => undefined)) === 'running') return { paths: entry.paths, info: entry.info };
      this.log.debug('pool', `${entry.paths.domain} is gone: removing it`, { id });
      await this.release(entry.paths.name);
    }
    return undefined;
  }

  /** Every VM of the pool, with what it is doing. */
  async entries(): Promise<PoolVmEntry[]> {
    let names: string[] = [];
    try {
      names = fs.readdirSync(poolDir(this.config.root)).filter((name) => POOL_VM_NAME.test(name));
    } catch {
      return [];
    }
    return names.sort().map((name) => entryOf(poolVmPaths(this.config, name)));
  }

  /**
   * Destroys a pool VM if runv made it, removes its taps (from `netns` too, where a container
   * took them), unmounts what its share holds and removes its files. QEMU goes first: nothing
   * in the guest can change the share while it is taken apart.
   */
  async release(name: string, netns?: string): Promise<void> {
    const paths = poolVmPaths(this.config, name);
    const owner = await this.hypervisor.ownerOf(paths.domain);
    if (owner?.pool && owner.root === this.config.root) await this.hypervisor.destroy(paths.domain);
    await this.network.remove(paths.tapPrefix, netns);
    await removeShare(paths);
    fs.rmSync(paths.agentSocket, { force: true });
    // What is left are the VM's own files (info, ready or claim, console log): never a directory.
    for (const entry of readdirIfThere(paths.dir)) fs.unlinkSync(path.join(paths.dir, entry));
    removeEntry(paths.dir);
    this.log.debug('pool', `${paths.domain} removed`);
  }

  /**
   * Removes every VM that is no container's. A running filler is asked to stop first (else it
   * would boot on); it removes the VM it was booting itself.
   */
  async drain(): Promise<number> {
    const unlock = await this.stopFiller();
    try {
      removeFile(this.refillRequest());
      let removed = 0;
      for (const entry of await this.entries()) {
        if (entry.status === 'claimed') continue;
        if (entry.status === 'ready' && !takeReady(entry.paths)) continue;
        await this.release(entry.paths.name);
        removed++;
      }
      return removed;
    } finally {
      unlock();
    }
  }

  private async stopFiller(): Promise<() => void> {
    const lock = this.lock();
    const deadline = Date.now() + FILLER_STOP_MS;
    const asked = new Set<number>();
    for (;;) {
      const unlock = lock.tryTake();
      if (unlock) return unlock;
      const filler = lock.holder();
      // Once: a second SIGTERM would end it before it removed the VM it was booting.
      if (filler && !asked.has(filler.pid)) {
        asked.add(filler.pid);
        signal(filler.pid, 'SIGTERM');
      }
      if (Date.now() > deadline) throw new RunvError('unavailable', `the pool's filler (pid ${filler?.pid}) did not stop within ${FILLER_STOP_MS / 1000} s`);
      await delay(LOCK_POLL_MS);
    }
  }

  private async waiting(): Promise<number> {
    return (await this.entries()).filter((e) => e.status === 'ready' || e.status === 'booting').length;
  }

  /** VMs whose filler or claimer died with them, and ready ones whose domain is gone. */
  private async removeDead(): Promise<void> {
    for (const entry of await this.entries()) {
      const gone = entry.status === 'dead' || (entry.status === 'ready' && (await this.hypervisor.stateOf(entry.paths.domain)) !== 'running');
      if (gone) await this.release(entry.paths.name);
    }
  }

  /**
   * Boots one pool VM and waits until its guest-init answers a probe; then marks it ready. Its
   * directory appears whole, info.json in it: a VM without one would count as dead.
   */
  private async boot(aborted?: AbortSignal): Promise<PoolVmPaths> {
    const paths = poolVmPaths(this.config, newPoolVmName());
    const cleanup = new CleanupStack();
    try {
      const nics = Array.from({ length: POOL_NICS }, (_, i) => ({ tap: `${paths.tapPrefix}${i}`, mac: newPoolMac() }));
      const { model, template, templateFile } = await this.domain(paths, nics);
      const info: PoolVmInfo = { shape: shapeOf(model, template), filler: thisProcess(), nics, created: new Date().toISOString() };
      const making = `${paths.dir}.new`;
      fs.mkdirSync(making, { mode: 0o700 });
      fs.writeFileSync(path.join(making, path.basename(paths.info)), JSON.stringify(info));
      fs.renameSync(making, paths.dir);
      cleanup.push('remove the pool VM', () => this.release(paths.name));
      await makeShare(paths);
      await this.network.makeTaps(paths.tapPrefix, nics.map((nic) => nic.tap), cleanup);
      fs.mkdirSync(path.dirname(paths.agentSocket), { recursive: true, mode: 0o700 });
      await createOwnedDomain(this.hypervisor, paths.name, paths.domain, await buildDomainXml(template, templateFile, model), cleanup);
      const watch = { hypervisor: this.hypervisor, name: paths.domain, timeoutMs: this.config.bootTimeoutMs, stopped: 'the pool VM stopped while booting', failure: (what: string) => new RunvError('guest', what), aborted };
      const agent = await awaitGuest(AgentClient.connect(paths.agentSocket), watch, (a) => cleanup.push('close agent channel', () => a.close()), true);
      agent.close();
      fs.writeFileSync(paths.ready, '');
      return paths;
    } catch (error) {
      await cleanup.run();
      throw error;
    }
  }

  /** A pool VM's domain: what a container with a default spec would get, with one 9p share and its NICs. */
  private async domain(paths: PoolVmPaths, nics: DomainInterface[]): Promise<{ model: DomainModel; template: string; templateFile: string }> {
    const { type } = chooseDriver(this.config.driver, this.config.accel, hostKvmFacts());
    if (!poolDriver(type)) throw new RunvError('invalid-argument', `the warm pool needs a QEMU VM (--driver kvm or qemu), not ${type}`);
    const image = await this.images.current(this.config.imagesDir);
    const vm = { name: paths.domain, owner: { id: paths.name, bundle: paths.dir, root: this.config.root, pool: true }, resources: resourcesOf({} as OciSpec), tuning: tuningOf(this.config.annotations) };
    const storage = { shares: [{ driver: '9p' as const, source: paths.share, tag: POOL_TAG }], disks: [] };
    const host = { kernel: image.kernel, initrd: image.initrd, consoleLog: paths.consoleLog, agentSocket: paths.agentSocket, interfaces: nics, tscKhz: hostTscKhz() };
    return { model: vmToDomain(vm, storage, type, host), ...driverTemplate(this.config.templateDir, type) };
  }

  private lock(): FillerLock {
    fs.mkdirSync(poolDir(this.config.root), { recursive: true, mode: 0o700 });
    return new FillerLock(path.join(poolDir(this.config.root), 'fill.lock'));
  }

  /** Made before a background filler starts, so that a drain in between can take its work back. */
  private refillRequest(): string {
    return path.join(poolDir(this.config.root), 'refill');
  }
}

/** Renames `ready` to a claim naming this process: the claim's file, or undefined if another took it. */
function takeReady(paths: PoolVmPaths): string | undefined {
  const claim = claimFile(paths, thisProcess());
  try {
    fs.renameSync(paths.ready, claim);
    return claim;
  } catch {
    return undefined;
  }
}

function entryOf(paths: PoolVmPaths): PoolVmEntry {
  const info = readJson<PoolVmInfo>(paths.info);
  const claimName = readdirIfThere(paths.dir).find((name) => claimHolder(name));
  if (claimName) {
    const holder = claimHolder(claimName)!;
    const claim = { ...readJson<Omit<PoolClaim, 'holder'>>(path.join(paths.dir, claimName)), holder };
    // A claim whose holder died: its container's shim is gone, and so must its VM be.
    return { paths, info, claim, status: isAlive(holder) ? 'claimed' : 'dead' };
  }
  if (fs.existsSync(paths.ready)) return { paths, info, status: 'ready' };
  return { paths, info, status: info && isAlive(info.filler) ? 'booting' : 'dead' };
}

/** A process that is gone meanwhile needs no signal. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** True if the file was there. */
function removeFile(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch {
    return false;
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
