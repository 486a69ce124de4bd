import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject, injectable } from 'inversify';
import { AgentClient } from '../agent/agent-client';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { Hypervisor } from '../core/ports';
import { chooseDriver, hostKvmFacts } from '../hypervisor/accel';
import { DomainInterface, DomainModel, DomainType, KERNEL_CMDLINE } from '../hypervisor/domain-model';
import { NetworkService } from '../network/network-service';
import { buildDomainXml } from '../hypervisor/domain-xml';
import { hostTscKhz } from '../hypervisor/host-tsc';
import { ImageStore } from '../image/image-store';
import { runTool } from '../image/run-tool';
import { resourcesOf } from '../oci/to-sandbox';
import { tuningOf } from '../oci/tuning';
import { OciSpec } from '../oci/spec';
import { CleanupStack } from '../runtime/cleanup-stack';
import { awaitGuest, createOwnedDomain, delay, driverTemplate } from '../runtime/launch-support';
import { RuntimeConfig } from '../runtime/runtime-config';
import { isSameProcessAlive, processStartTicks } from '../lifecycle/process-identity';
import { mountPointsUnder, removeShareDir } from '../storage/host-mounts';
import { newPoolMac, newPoolVmName, POOL_NICS, POOL_TAG, PoolClaim, poolDir, PoolVmInfo, PoolVmPaths, poolVmPaths, ProcessRef, shapeOf } from './pool-layout';

export type PoolVmStatus = 'booting' | 'ready' | 'claimed' | 'dead';

export interface PoolVmEntry {
  paths: PoolVmPaths;
  status: PoolVmStatus;
  info?: PoolVmInfo;
  /** The container that took it. */
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
   * TCG). Dead ones go first. Only one filler runs per pool; a second returns at once.
   */
  async fill(size: number, progress: (message: string) => void = () => undefined, requested = false): Promise<void> {
    const unlock = this.lock();
    if (!unlock) return progress('another filler is running');
    try {
      // A background filler whose request a drain took back has nothing to do.
      if (requested && !removeFile(this.refillRequest())) return;
      await this.removeDead();
      // Counted again after each boot: containers may take VMs meanwhile.
      for (let waiting = await this.waiting(); waiting < size; waiting = await this.waiting()) {
        const paths = await this.boot();
        progress(`${paths.domain} ready (${waiting + 1} of ${size})`);
      }
    } finally {
      unlock();
    }
  }

  private async waiting(): Promise<number> {
    return (await this.entries()).filter((e) => e.status === 'ready' || e.status === 'booting').length;
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
   * Takes a ready VM of that shape for container `id`, or none. The rename of `ready` is the
   * lock: of two claimers exactly one gets the VM. A VM whose domain is gone is removed instead.
   */
  async claim(shape: string, id: string): Promise<ClaimedVm | undefined> {
    for (const entry of await this.entries()) {
      if (entry.status !== 'ready' || entry.info?.shape !== shape) continue;
      try {
        fs.renameSync(entry.paths.ready, entry.paths.claim);
      } catch {
        continue;
      }
      fs.writeFileSync(entry.paths.claim, JSON.stringify({ id, holder: thisProcess() } satisfies PoolClaim));
      if ((await this.hypervisor.stateOf(entry.paths.domain)) === 'running') return { paths: entry.paths, info: entry.info };
      this.log.debug('pool', `${entry.paths.domain} is gone: removing it`, { id });
      await this.release(entry.paths.name);
    }
    return undefined;
  }

  /** Every VM of the pool, with what it is doing. */
  async entries(): Promise<PoolVmEntry[]> {
    let names: string[] = [];
    try {
      names = fs.readdirSync(poolDir(this.config.root)).filter((name) => name.startsWith('pool-'));
    } catch {
      return [];
    }
    return names.sort().map((name) => entryOf(poolVmPaths(this.config, name)));
  }

  /**
   * Destroys a pool VM if runv made it, removes its taps (from `netns` too, where a container
   * took them), unmounts what its share holds and removes its files.
   */
  async release(name: string, netns?: string): Promise<void> {
    const paths = poolVmPaths(this.config, name);
    const owner = await this.hypervisor.ownerOf(paths.domain);
    if (owner?.pool && owner.root === this.config.root) await this.hypervisor.destroy(paths.domain);
    await this.network.remove(paths.tapPrefix, netns);
    await removeShareDir(paths.mounts);
    for (const mountPoint of [...mountPointsUnder(paths.share).reverse(), ...(isMountPoint(paths.share) ? [paths.share] : [])]) await runTool(['umount', mountPoint]);
    // Never recursive: a directory that is still a mount point would take the host's files along.
    for (const file of [paths.agentSocket, paths.info, paths.ready, paths.claim, paths.consoleLog]) fs.rmSync(file, { force: true });
    for (const dir of [paths.rootfs, paths.share, paths.dir]) removeEmptyDir(dir);
    this.log.debug('pool', `${paths.domain} removed`);
  }

  /**
   * Removes every VM that waits, once a filler at work has finished (else it would go on booting);
   * a claimed one belongs to its container and stays.
   */
  async drain(): Promise<number> {
    const unlock = await this.lockWhenFree();
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

  private async lockWhenFree(): Promise<() => void> {
    const deadline = Date.now() + this.config.bootTimeoutMs;
    for (;;) {
      const unlock = this.lock();
      if (unlock) return unlock;
      if (Date.now() > deadline) throw new RunvError('unavailable', `a pool filler is still running after ${this.config.bootTimeoutMs / 1000} s`);
      await delay(LOCK_POLL_MS);
    }
  }

  /** VMs whose filler or claimer died with them, and ready ones whose domain is gone. */
  private async removeDead(): Promise<void> {
    for (const entry of await this.entries()) {
      const gone = entry.status === 'dead' || (entry.status === 'ready' && (await this.hypervisor.stateOf(entry.paths.domain)) !== 'running');
      if (gone) await this.release(entry.paths.name);
    }
  }

  /** Boots one pool VM and waits until its guest-init answers a probe; then marks it ready. */
  private async boot(): Promise<PoolVmPaths> {
    const paths = poolVmPaths(this.config, newPoolVmName());
    const cleanup = new CleanupStack();
    try {
      fs.mkdirSync(paths.dir, { mode: 0o700 });
      cleanup.push('remove the pool VM', () => this.release(paths.name));
      const nics = Array.from({ length: POOL_NICS }, (_, i) => ({ tap: `${paths.tapPrefix}${i}`, mac: newPoolMac() }));
      const { model, template, templateFile } = await this.domain(paths, nics);
      fs.writeFileSync(paths.info, JSON.stringify({ domain: paths.domain, shape: shapeOf(model, template), filler: thisProcess(), nics, created: new Date().toISOString() } satisfies PoolVmInfo));
      await shareWithPropagation(paths.share);
      await this.network.makeTaps(paths.tapPrefix, nics.map((nic) => nic.tap), cleanup);
      fs.mkdirSync(path.dirname(paths.agentSocket), { recursive: true, mode: 0o700 });
      await createOwnedDomain(this.hypervisor, paths.name, paths.domain, await buildDomainXml(template, templateFile, model), cleanup);
      const watch = { hypervisor: this.hypervisor, name: paths.domain, timeoutMs: this.config.bootTimeoutMs, stopped: 'the pool VM stopped while booting', failure: (what: string) => new RunvError('guest', what) };
      const agent = await awaitGuest(AgentClient.connect(paths.agentSocket), watch, (a) => cleanup.push('close agent channel', () => a.close()), true);
      agent.close();
      fs.writeFileSync(paths.ready, '');
      return paths;
    } catch (error) {
      await cleanup.run();
      throw error;
    }
  }

  /** A pool VM's domain: what a container with a default spec would get, with one 9p share and NICs. */
  private async domain(paths: PoolVmPaths, nics: DomainInterface[]): Promise<{ model: DomainModel; template: string; templateFile: string }> {
    const { type } = chooseDriver(this.config.driver, this.config.accel, hostKvmFacts());
    if (!poolDriver(type)) throw new RunvError('invalid-argument', `the warm pool needs a QEMU VM (--driver kvm or qemu), not ${type}`);
    const image = await this.images.current(this.config.imagesDir);
    const { memoryMiB, vcpus } = resourcesOf({} as OciSpec);
    const model: DomainModel = {
      name: paths.domain,
      type,
      memoryMiB,
      vcpus,
      kernel: image.kernel,
      initrd: image.initrd,
      cmdline: KERNEL_CMDLINE,
      consoleLog: paths.consoleLog,
      agentSocket: paths.agentSocket,
      shares: [{ driver: '9p', source: paths.share, tag: POOL_TAG }],
      disks: [],
      interfaces: nics,
      metadata: { id: paths.name, bundle: paths.dir, root: this.config.root, pool: true },
      tuning: tuningOf(this.config.annotations),
      tscKhz: hostTscKhz(),
    };
    return { model, ...driverTemplate(this.config.templateDir, type) };
  }

  /** Made before a background filler starts, so that a drain in between can take its work back. */
  private refillRequest(): string {
    return path.join(poolDir(this.config.root), 'refill');
  }

  /** The filler's lock: a file holding its pid. Returns its release, or undefined if taken. */
  private lock(): (() => void) | undefined {
    fs.mkdirSync(poolDir(this.config.root), { recursive: true, mode: 0o700 });
    const file = path.join(poolDir(this.config.root), 'fill.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, JSON.stringify(thisProcess()), { flag: 'wx' });
        return () => fs.rmSync(file, { force: true });
      } catch {
        const holder = readJson<ProcessRef>(file);
        if (holder && alive(holder)) return undefined;
        fs.rmSync(file, { force: true });
      }
    }
    return undefined;
  }
}

export function poolDriver(type: DomainType): boolean {
  return type === 'kvm' || type === 'qemu';
}

/** The share is its own mount point, shared: binds made under it after boot appear in QEMU's namespace. */
async function shareWithPropagation(share: string): Promise<void> {
  fs.mkdirSync(share, { mode: 0o755 });
  await runTool(['mount', '--bind', share, share]);
  await runTool(['mount', '--make-shared', share]);
}

function takeReady(paths: PoolVmPaths): boolean {
  try {
    fs.renameSync(paths.ready, paths.claim);
    return true;
  } catch {
    return false;
  }
}

function entryOf(paths: PoolVmPaths): PoolVmEntry {
  const info = readJson<PoolVmInfo>(paths.info);
  const claim = readJson<PoolClaim>(paths.claim);
  if (fs.existsSync(paths.claim)) {
    // A claim whose holder died: the container's shim is gone, its VM powers itself off.
    return { paths, info, claim, status: claim && !alive(claim.holder) ? 'dead' : 'claimed' };
  }
  if (fs.existsSync(paths.ready)) return { paths, info, status: 'ready' };
  return { paths, info, status: info && alive(info.filler) ? 'booting' : 'dead' };
}

function isMountPoint(dir: string): boolean {
  return mountPointsUnder(path.dirname(dir)).includes(dir);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
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

function removeEmptyDir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function thisProcess(): ProcessRef {
  return { pid: process.pid, startTicks: processStartTicks(process.pid) ?? 0 };
}

function alive(process: ProcessRef): boolean {
  return isSameProcessAlive(process.pid, process.startTicks);
}
