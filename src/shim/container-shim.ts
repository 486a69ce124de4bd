import * as fs from 'node:fs';
import { inject, injectable } from 'inversify';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { ProcessModel, SandboxModel } from '../core/model';
import { Hypervisor } from '../core/ports';
import { domainName } from '../hypervisor/domain-model';
import { ContainerRecord, ContainerStatus, canMove, requireStatus } from '../lifecycle/container-state';
import { processStartTicks } from '../lifecycle/process-identity';
import { OCI_VERSION } from '../lifecycle/oci-state';
import { StateStore } from '../lifecycle/state-store';
import { sandboxFromBundle } from '../runtime/bundle';
import { CleanupStack } from '../runtime/cleanup-stack';
import { RuntimeConfig } from '../runtime/runtime-config';
import { RunningSandbox, SandboxLauncher } from '../runtime/sandbox-launcher';
import { SandboxPaths, sandboxPaths } from '../runtime/sandbox-paths';
import { claimStateDir } from '../runtime/state-dir';
import { HostStdio, StdioRelay } from '../runtime/stdio-relay';
import { ExecSession } from './exec-session';
import { ExecStream, ProcessList, serveShim, ShimHandlers, ShimStats } from './shim-api';

export interface ShimRequest {
  id: string;
  bundle: string;
}

/** The container's terminal or pipes on the host, and how to read its window size. */
export interface ShimStdio extends HostStdio {
  windowSize?(): { rows: number; cols: number } | undefined;
}

/** Opens the init process's stdio once the spec is known: a console socket needs its size. */
export type StdioOpener = (init: ProcessModel) => Promise<ShimStdio>;

const SIGKILL = 9;
/** Signals whose default action is to do nothing: they do not end a container that is only created. */
const IGNORED_BY_DEFAULT = new Set([17, 18, 23, 28]);
/** The status reported when the VM itself died under the container. */
const VM_DIED_STATUS = 255;

/**
 * One container for the whole of its life, in the shim process that `runv create` leaves
 * behind: it boots the VM, holds the agent channel and the container's stdio, answers the
 * later commands over gRPC, and keeps the lifecycle record. Changes of state are serialized.
 */
@injectable()
export class ContainerShim implements ShimHandlers {
  private record!: ContainerRecord;
  private sandbox!: SandboxModel;
  private paths!: SandboxPaths;
  private running: RunningSandbox | undefined;
  private stdio!: ShimStdio;
  private finish: (status: number) => void = () => undefined;
  private readonly exited = new Promise<number>((resolve) => (this.finish = resolve));
  private queue: Promise<unknown> = Promise.resolve();
  /** The host pids standing for running execs, by exec session. */
  private readonly execHostPids = new Map<object, number>();
  private readonly store: StateStore;

  constructor(
    @inject(SandboxLauncher) private readonly launcher: SandboxLauncher,
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(Logger) private readonly log: Logger,
  ) {
    this.store = new StateStore(config);
  }

  /**
   * Creates the container, calls `created` once later commands can reach it, and serves it
   * until its init exits. Resolves with that exit status, once the VM is gone.
   */
  async serve(request: ShimRequest, openStdio: StdioOpener, created: () => void): Promise<number> {
    // The state directory is undone only if creating fails; the API goes when the container stops.
    const stateDir = new CleanupStack();
    const api = new CleanupStack();
    try {
      await this.create(request, openStdio, stateDir, api);
    } catch (error) {
      await this.running?.teardown().catch(() => undefined);
      await api.run();
      await stateDir.run();
      throw error;
    }
    created();
    const status = await this.exited;
    this.log.debug('shim', 'container exited', { id: this.record.id, status });
    await this.running!.teardown().catch((error: Error) => this.log.debug('shim', `teardown: ${error.message}`));
    await api.run();
    this.record = { ...this.record, exitStatus: status };
    this.move('stopped');
    return status;
  }

  private async create(request: ShimRequest, openStdio: StdioOpener, stateDir: CleanupStack, api: CleanupStack): Promise<void> {
    this.sandbox = sandboxFromBundle(request.id, request.bundle, { defaultStorage: this.config.storageDriver });
    this.stdio = await openStdio(this.sandbox.process);
    this.paths = sandboxPaths(this.config, request.id);
    claimStateDir(request.id, this.paths, stateDir);
    this.record = {
      ociVersion: OCI_VERSION,
      id: request.id,
      status: 'creating',
      pid: process.pid,
      pidStartTicks: processStartTicks(process.pid) ?? 0,
      bundle: this.sandbox.bundle,
      rootfs: this.sandbox.rootfsPath,
      created: new Date().toISOString(),
      owner: '',
      annotations: this.sandbox.annotations,
    };
    this.store.write(this.record);
    this.running = await this.launcher.launch(this.sandbox);
    await this.running.agent.addContainer(this.running.container);
    const socket = this.paths.shimSocket;
    fs.rmSync(socket, { force: true });
    api.push('remove the shim socket', () => fs.rmSync(socket, { force: true }));
    const server = await serveShim(socket, this);
    api.push('stop the shim API', () => server.forceShutdown());
    this.running.agent.once('close', () => this.finish(VM_DIED_STATUS));
    this.move('created');
  }

  start(): Promise<void> {
    return this.serialized(async () => {
      requireStatus(this.record, 'start', ['created']);
      const { agent } = this.running!;
      const init = this.sandbox.process;
      const size = this.stdio.windowSize?.();
      if (init.terminal && size) Object.assign(init, size);
      const relay = new StdioRelay(agent, init.containerId, init.processId, this.stdio);
      await new Promise<void>((started, failed) => {
        relay.run(() => agent.startProcess(init).then(() => started())).then(
          (exit) => this.finish(exit.status),
          (error: RunvError) => {
            failed(error);
            this.finish(error.exitCode || VM_DIED_STATUS);
          },
        );
      });
      this.move('running');
    });
  }

  kill(signal: number, all: boolean): Promise<void> {
    return this.serialized(async () => {
      requireStatus(this.record, 'kill', ['created', 'running', 'paused']);
      const { status } = this.record;
      if (status === 'created') return IGNORED_BY_DEFAULT.has(signal) ? undefined : this.finish(128 + signal);
      // A frozen guest cannot act on a signal; SIGKILL must still end it, as it ends a frozen cgroup.
      if (status === 'paused' && signal === SIGKILL) return this.finish(128 + SIGKILL);
      const delivered = this.running!.agent.signal(this.record.id, this.sandbox.process.processId, signal, { all });
      // Other signals wait in the channel until the guest runs again.
      if (status === 'paused') return void delivered.catch(() => undefined);
      await delivered;
    });
  }

  pause(): Promise<void> {
    return this.serialized(async () => {
      requireStatus(this.record, 'pause', ['running']);
      await this.hypervisor.suspend(domainName(this.record.id));
      this.move('paused');
    });
  }

  resume(): Promise<void> {
    return this.serialized(async () => {
      requireStatus(this.record, 'resume', ['paused']);
      await this.hypervisor.resume(domainName(this.record.id));
      this.move('running');
    });
  }

  async processes(): Promise<ProcessList> {
    requireStatus(this.record, 'list the processes of', ['created', 'running']);
    const processes = await this.running!.agent.listProcesses(this.record.id);
    return { processes, hostPids: [process.pid, ...this.execHostPids.values()] };
  }

  async stats(): Promise<ShimStats> {
    const stats = await this.hypervisor.stats(domainName(this.record.id));
    if (!stats) throw new RunvError('invalid-state', `container ${JSON.stringify(this.record.id)} has no VM`);
    return { cpuTimeNs: stats.cpuTimeNs, memoryKib: stats.memoryKiB, vcpus: stats.vcpus };
  }

  destroy(): Promise<void> {
    return this.serialized(async () => this.finish(128 + SIGKILL));
  }

  exec(stream: ExecStream): void {
    const session = {};
    const hostPid = (pid: number | undefined): void => void (pid ? this.execHostPids.set(session, pid) : this.execHostPids.delete(session));
    new ExecSession(stream, this.running!.agent, this.record.id, () => requireStatus(this.record, 'exec in', ['running']), hostPid).run();
  }

  /** Signals the shim itself receives stand for the container: created, they end it; else they go to its init. */
  onSignal(signal: number): void {
    if (this.record?.status === 'created' || this.record?.status === 'running' || this.record?.status === 'paused') {
      this.kill(signal, false).catch((error: Error) => this.log.debug('shim', `signal ${signal}: ${error.message}`));
    }
  }

  /** The caller resized the container's terminal. */
  onWindowChange(): void {
    const size = this.stdio?.windowSize?.();
    if (this.record?.status !== 'running' || !size) return;
    const { containerId, processId } = this.sandbox.process;
    this.running!.agent.resize(containerId, processId, size.rows, size.cols).catch(() => undefined);
  }

  private move(status: ContainerStatus): void {
    if (!canMove(this.record.status, status)) throw new RunvError('internal', `container ${this.record.id}: ${this.record.status} -> ${status} is not a lifecycle step`);
    this.record = { ...this.record, status };
    this.store.write(this.record);
  }

  private serialized<T>(action: () => Promise<T>): Promise<T> {
    const result = this.queue.then(action);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
