import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject, injectable } from 'inversify';
import { AgentClient } from '../agent/agent-client';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { ContainerModel, SandboxModel } from '../core/model';
import { Hypervisor } from '../core/ports';
import { chooseDriver, hostKvmFacts } from '../hypervisor/accel';
import { DomainModel, DomainType, sandboxToDomain } from '../hypervisor/domain-model';
import { buildDomainXml } from '../hypervisor/domain-xml';
import { hostTscKhz } from '../hypervisor/host-tsc';
import { ImageStore } from '../image/image-store';
import { StorageService } from '../storage/storage-service';
import { onXen, StoragePlan } from '../storage/storage-plan';
import { NetworkService, SandboxNetwork } from '../network/network-service';
import { CleanupStack } from './cleanup-stack';
import { RuntimeConfig } from './runtime-config';
import { SandboxPaths, sandboxPaths } from './sandbox-paths';
import { inUse } from './state-dir';
import { awaitGuest, createOwnedDomain, driverTemplate, lastLine, shutDown } from './launch-support';
import { LxcLauncher } from './lxc-launcher';
import { VmPool } from '../pool/vm-pool';
import { POOL_MOUNTS_ENTRY, POOL_ROOTFS_ENTRY, shapeOf } from '../pool/pool-layout';
import { bindIntoShare } from '../pool/pool-share';
import { pooledContainer, pooledNetwork, whyNotPooled } from '../pool/pooled-container';

/** A booted VM whose guest-init has answered, ready to take containers. */
export interface RunningSandbox {
  readonly agent: AgentClient;
  /** The container as the guest is to add it, its storage decided. */
  readonly container: ContainerModel;
  /** The libvirt domain: `runv-<id>`, or the warm pool's VM the container took. */
  readonly domain: string;
  /** Where the VM's console is logged. */
  readonly consoleLog: string;
  /** Powers the VM off (cleanly if the guest answers) and removes every file made for it. */
  teardown(): Promise<void>;
}

export interface LaunchOptions {
  /** Stops the boot, cleaning up (a foreground run's Ctrl-C). */
  readonly aborted?: AbortSignal;
  /**
   * Work the caller needs done before the sandbox is of use, run once QEMU has started: the
   * guest then boots for a second or more, time in which this process would only wait.
   */
  readonly whileBooting?: () => void;
  /**
   * Told at once when the container takes a warm pool's VM, so that a delete finds it even if
   * this process dies; told `undefined` when that VM failed and the container boots its own.
   */
  readonly onPooledVm?: (name: string | undefined) => void;
}

export interface DomainDescription {
  model: DomainModel;
  xml: string;
  /** The driver's template the XML was built from. */
  template: string;
  paths: SandboxPaths;
  storage: StoragePlan;
  network: SandboxNetwork;
}

@injectable()
export class SandboxLauncher {
  constructor(
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(ImageStore) private readonly images: ImageStore,
    @inject(StorageService) private readonly storage: StorageService,
    @inject(NetworkService) private readonly network: NetworkService,
    @inject(LxcLauncher) private readonly lxc: LxcLauncher,
    @inject(VmPool) private readonly pool: VmPool,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /** The libvirt domain XML a sandbox would get, for any driver, without creating anything. */
  async domainXml(sandbox: SandboxModel): Promise<string> {
    const { type, reason } = chooseDriver(this.config.driver, this.config.accel, hostKvmFacts());
    this.log.debug('hypervisor', `driver ${type}: ${reason}`, { id: sandbox.id });
    // Described as the host sees it, for an operator to read or hand to virsh.
    if (type === 'lxc') return this.lxc.domainXml(sandbox, '');
    return (await this.describe(sandbox, type)).xml;
  }

  /** A VM's domain: its model, XML, host paths and storage. */
  private async describe(sandbox: SandboxModel, type: DomainType): Promise<DomainDescription> {
    const plan = await this.storage.plan(sandbox);
    const storage = type === 'xen' ? onXen(plan) : plan;
    const image = await this.images.current(this.config.imagesDir);
    this.log.debug('hypervisor', `guest image ${image.dir}`, { id: sandbox.id });
    const paths = sandboxPaths(this.config, sandbox.id);
    const network = await this.network.plan(sandbox);
    const interfaces = network.links.map(({ tap, mac }) => ({ tap, mac }));
    // Only a VM with a disk needs the modules of ext4 or xfs, which make its initrd slower to boot.
    const initrd = storage.disks.length > 0 ? image.blockInitrd : image.initrd;
    const host = { kernel: image.kernel, initrd, consoleLog: paths.consoleLog, agentSocket: paths.agentSocket, interfaces, tscKhz: hostTscKhz(), root: this.config.root };
    const model = sandboxToDomain(sandbox, storage, type, host);
    const { template, templateFile } = driverTemplate(this.config.templateDir, type);
    return { model, xml: await buildDomainXml(template, templateFile, model), template, paths, storage, network };
  }

  /**
   * Boots the sandbox's VM and waits for guest-init; `aborted` stops the boot, cleaning up. The
   * caller holds the id's state directory (claimStateDir), where the VM's console log goes.
   */
  async launch(sandbox: SandboxModel, options: LaunchOptions = {}): Promise<RunningSandbox> {
    const { aborted } = options;
    const { type } = chooseDriver(this.config.driver, this.config.accel, hostKvmFacts());
    if (type === 'lxc') return this.lxc.launch(sandbox, aborted);
    const description = await this.describe(sandbox, type);
    const pooled = await this.fromPool(sandbox, description, options);
    if (pooled) return pooled;
    const { model, xml, paths, storage, network } = description;
    const cleanup = new CleanupStack();
    try {
      if (await this.hypervisor.stateOf(model.name)) throw inUse(sandbox.id, `libvirt already has a domain ${model.name}`);
      prepareSocket(paths.agentSocket, cleanup);
      await this.storage.prepare(storage, cleanup);
      await this.network.createTaps(network, cleanup);
      await createOwnedDomain(this.hypervisor, sandbox.id, model.name, xml, cleanup);
      this.log.debug('hypervisor', 'domain started', { id: sandbox.id, domain: model.name });
      await this.network.connect(network, cleanup);
      aborted?.throwIfAborted();
      options.whileBooting?.();
      const watch = { hypervisor: this.hypervisor, name: model.name, timeoutMs: this.config.bootTimeoutMs, stopped: 'the VM stopped while booting', failure: (what: string) => bootFailure(what, paths), aborted };
      const agent = await awaitGuest(AgentClient.connect(paths.agentSocket), watch, (a) => cleanup.push('close agent channel', () => a.close()));
      this.log.debug('agent', 'guest-init answered', { id: sandbox.id });
      for (const link of network.links) await agent.addInterface(link);
      const teardown = (): Promise<void> => shutDown(this.hypervisor, agent, model.name, cleanup, this.log);
      return { agent, container: storage.container, domain: model.name, consoleLog: paths.consoleLog, teardown };
    } catch (error) {
      this.log.debug('runtime', `start failed, cleaning up: ${(error as Error).message}`, { id: sandbox.id });
      await cleanup.run();
      throw error;
    }
  }

  /**
   * Gives the container a booted VM of the warm pool when one of its shape waits: its rootfs and
   * bind sources are bound under the VM's share, and a filler boots the VM's successor. Undefined
   * when none fits or the one taken fails (the caller boots a VM of its own then).
   */
  private async fromPool(sandbox: SandboxModel, cold: DomainDescription, options: LaunchOptions): Promise<RunningSandbox | undefined> {
    const { aborted } = options;
    const why = whyNotPooled(cold);
    if (why) {
      this.log.debug('pool', `no pool VM: ${why}`, { id: sandbox.id });
      return undefined;
    }
    const vm = await this.pool.claim(shapeOf(cold.model, cold.template), sandbox.id);
    if (!vm) return undefined;
    this.log.debug('pool', `took ${vm.paths.domain}`, { id: sandbox.id });
    options.onPooledVm?.(vm.paths.name);
    this.pool.refillInBackground();
    const { paths } = vm;
    const cleanup = new CleanupStack();
    cleanup.push('release the pool VM', () => this.pool.release(paths.name, cold.network.netns));
    try {
      await bindIntoShare(paths, POOL_ROOTFS_ENTRY, { source: sandbox.rootfsPath, entry: POOL_ROOTFS_ENTRY, directory: true, readonly: false, recursive: true });
      for (const bind of cold.storage.binds) await bindIntoShare(paths, `${POOL_MOUNTS_ENTRY}/${bind.entry}`, bind);
      const network = pooledNetwork(cold.network, vm.info.nics, paths.tapPrefix);
      await this.network.connect(network, cleanup);
      const watch = { hypervisor: this.hypervisor, name: paths.domain, timeoutMs: this.config.bootTimeoutMs, stopped: 'the pool VM stopped', failure: (what: string) => new RunvError('guest', what), aborted };
      const agent = await awaitGuest(AgentClient.connect(paths.agentSocket), watch, (a) => cleanup.push('close agent channel', () => a.close()));
      for (const link of network.links) await agent.addInterface(link);
      const teardown = (): Promise<void> => shutDown(this.hypervisor, agent, paths.domain, cleanup, this.log);
      return { agent, container: pooledContainer(cold.storage.container), domain: paths.domain, consoleLog: paths.consoleLog, teardown };
    } catch (error) {
      await cleanup.run();
      options.onPooledVm?.(undefined);
      if (aborted?.aborted) throw error;
      this.log.debug('pool', `${paths.domain} failed, booting a VM instead: ${(error as Error).message}`, { id: sandbox.id });
      return undefined;
    }
  }
}

function prepareSocket(socket: string, cleanup: CleanupStack): void {
  fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
  fs.rmSync(socket, { force: true });
  cleanup.push('remove agent socket', () => fs.rmSync(socket, { force: true }));
}

/** Names the failure and quotes the guest console's last line, where guest-init reports why. */
function bootFailure(what: string, paths: SandboxPaths): RunvError {
  const last = lastLine(paths.consoleLog);
  return new RunvError('guest', last ? `${what}; guest console: ${last}` : what);
}
