import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject, injectable } from 'inversify';
import { AgentClient, AgentError } from '../agent/agent-client';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { ContainerModel, SandboxModel } from '../core/model';
import { Hypervisor } from '../core/ports';
import { chooseDomainType, hostKvmFacts } from '../hypervisor/accel';
import { DomainModel, sandboxToDomain } from '../hypervisor/domain-model';
import { buildDomainXml } from '../hypervisor/domain-xml';
import { hostTscKhz } from '../hypervisor/host-tsc';
import { ImageStore } from '../image/image-store';
import { StorageService } from '../storage/storage-service';
import { StoragePlan } from '../storage/storage-plan';
import { CleanupStack } from './cleanup-stack';
import { RuntimeConfig } from './runtime-config';
import { SandboxPaths, sandboxPaths } from './sandbox-paths';
import { inUse } from './state-dir';

const TEMPLATE_FILE = 'qemu.xml';
const SHUTDOWN_GRACE_MS = 3000;
/** After the guest acknowledged SHUTDOWN it powers off within milliseconds. */
const POWEROFF_WAIT_MS = 1000;
const GONE_POLL_MS = 20;
const WATCH_INTERVAL_MS = 250;

/** A booted VM whose guest-init has answered, ready to take containers. */
export interface RunningSandbox {
  readonly agent: AgentClient;
  /** The container as the guest is to add it, its storage decided. */
  readonly container: ContainerModel;
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
}

export interface DomainDescription {
  model: DomainModel;
  xml: string;
  paths: SandboxPaths;
  storage: StoragePlan;
}

@injectable()
export class SandboxLauncher {
  constructor(
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(ImageStore) private readonly images: ImageStore,
    @inject(StorageService) private readonly storage: StorageService,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /** The libvirt domain a sandbox would get, without creating anything. */
  async describe(sandbox: SandboxModel): Promise<DomainDescription> {
    const storage = await this.storage.plan(sandbox);
    const image = await this.images.current(this.config.imagesDir);
    const { type, reason } = chooseDomainType(this.config.accel, hostKvmFacts());
    this.log.debug('hypervisor', `domain type ${type}: ${reason}`, { id: sandbox.id, image: image.dir });
    const paths = sandboxPaths(this.config, sandbox.id);
    // Only a VM with a disk needs the modules of ext4 or xfs, which make its initrd slower to boot.
    const initrd = storage.disks.length > 0 ? image.blockInitrd : image.initrd;
    const host = { kernel: image.kernel, initrd, consoleLog: paths.consoleLog, agentSocket: paths.agentSocket, tscKhz: hostTscKhz() };
    const model = sandboxToDomain(sandbox, storage, type, host);
    const templateFile = path.join(this.config.templateDir, TEMPLATE_FILE);
    const template = readTemplate(templateFile);
    return { model, xml: await buildDomainXml(template, templateFile, model), paths, storage };
  }

  /**
   * Boots the sandbox's VM and waits for guest-init; `aborted` stops the boot, cleaning up. The
   * caller holds the id's state directory (claimStateDir), where the VM's console log goes.
   */
  async launch(sandbox: SandboxModel, options: LaunchOptions = {}): Promise<RunningSandbox> {
    const { aborted } = options;
    const { model, xml, paths, storage } = await this.describe(sandbox);
    const cleanup = new CleanupStack();
    try {
      if (await this.hypervisor.stateOf(model.name)) throw inUse(sandbox.id, `libvirt already has a domain ${model.name}`);
      prepareSocket(paths.agentSocket, cleanup);
      await this.storage.prepare(storage, cleanup);
      // Before the create: libvirt may fail after QEMU started, and destroying nothing is harmless.
      // Unless the name was taken meanwhile (another --root, same id): that domain is not ours.
      let ours = true;
      cleanup.push('destroy domain', () => (ours ? this.hypervisor.destroy(model.name) : undefined));
      await this.hypervisor.createTransient(xml).catch((error: Error) => {
        if (/already exists/i.test(error.message)) {
          ours = false;
          throw inUse(sandbox.id, `libvirt already has a domain ${model.name}`);
        }
        throw error;
      });
      this.log.debug('hypervisor', 'domain started', { id: sandbox.id, domain: model.name });
      aborted?.throwIfAborted();
      options.whileBooting?.();
      const agent = await AgentClient.connect(paths.agentSocket);
      cleanup.push('close agent channel', () => agent.close());
      await this.waitForGuest(agent, model.name, paths, aborted);
      this.log.debug('agent', 'guest-init answered', { id: sandbox.id });
      return { agent, container: storage.container, teardown: () => this.teardown(agent, model.name, cleanup) };
    } catch (error) {
      this.log.debug('runtime', `start failed, cleaning up: ${(error as Error).message}`, { id: sandbox.id });
      await cleanup.run();
      throw error;
    }
  }

  /** Waits for guest-init's hello, failing fast if the VM dies, the boot takes too long, or the user aborts. */
  private async waitForGuest(agent: AgentClient, name: string, paths: SandboxPaths, aborted?: AbortSignal): Promise<void> {
    const failed = new AbortController();
    const deadline = Date.now() + this.config.bootTimeoutMs;
    const watch = setInterval(() => {
      if (Date.now() > deadline) failed.abort(bootFailure(`guest-init did not answer within ${this.config.bootTimeoutMs / 1000} s`, paths));
      this.hypervisor.stateOf(name).then(
        (state) => (state === undefined || state === 'shutoff' || state === 'crashed' ? failed.abort(bootFailure('the VM stopped while booting', paths)) : undefined),
        (error) => failed.abort(error),
      );
    }, WATCH_INTERVAL_MS);
    const signal = aborted ? AbortSignal.any([failed.signal, aborted]) : failed.signal;
    try {
      await agent.hello(signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof AgentError) throw error;
      // The channel usually closes before the watch sees the VM gone: say what happened.
      throw bootFailure('the VM stopped while booting', paths);
    } finally {
      clearInterval(watch);
    }
  }

  private async waitUntilGone(name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (await this.hypervisor.stateOf(name).catch(() => undefined)) !== undefined) await delay(GONE_POLL_MS);
  }

  private async teardown(agent: AgentClient, name: string, cleanup: CleanupStack): Promise<void> {
    // A clean shutdown lets the guest sync the rootfs; destroy follows either way.
    const clean = await withTimeout(agent.shutdown().then(() => true, () => false), SHUTDOWN_GRACE_MS, false);
    this.log.debug('runtime', clean ? 'guest shut down' : 'guest did not shut down: destroying', { domain: name });
    // libvirt's destroy of a QEMU that is still exiting polls in 200 ms steps; one that is gone costs nothing.
    if (clean) await this.waitUntilGone(name, POWEROFF_WAIT_MS);
    const failures = await cleanup.run();
    this.log.debug('runtime', 'sandbox removed', { domain: name });
    if (failures.length) throw new RunvError('internal', failures.map((f) => f.message).join('; '));
  }
}

function readTemplate(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RunvError('not-found', `template ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (error as Error).message}`);
  }
}

function prepareSocket(socket: string, cleanup: CleanupStack): void {
  fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
  fs.rmSync(socket, { force: true });
  cleanup.push('remove agent socket', () => fs.rmSync(socket, { force: true }));
}


/** Names the failure and quotes the guest console's last line, where guest-init reports why. */
function bootFailure(what: string, paths: SandboxPaths): RunvError {
  const last = lastConsoleLine(paths.consoleLog);
  return new RunvError('guest', last ? `${what}; guest console: ${last}` : what);
}

function lastConsoleLine(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean).pop();
  } catch {
    return undefined;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
