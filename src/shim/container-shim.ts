import * as fs from 'node:fs';
import { inject, injectable } from 'inversify';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { ProcessModel, SandboxModel } from '../core/model';
import { cgroupFiles, LinuxResources } from '../oci/cgroup-resources';
import { Hypervisor } from '../core/ports';
import { ContainerRecord, ContainerStatus, canMove, requireStatus } from '../lifecycle/container-state';
import { processStartTicks } from '../lifecycle/process-identity';
import { runHostHooks, runHostHooksWarning } from '../lifecycle/hooks';
import { OCI_VERSION, toOciState } from '../lifecycle/oci-state';
import { StateStore } from '../lifecycle/state-store';
import { sandboxFromBundle } from '../runtime/bundle';
import { CleanupStack } from '../runtime/cleanup-stack';
import { RuntimeConfig, translateDefaults } from '../runtime/runtime-config';
import { RunningSandbox, SandboxLauncher } from '../runtime/sandbox-launcher';
import { SandboxPaths, sandboxPaths } from '../runtime/sandbox-paths';
import { claimStateDir } from '../runtime/state-dir';
import { HostStdio, StdioRelay } from '../runtime/stdio-relay';
import { AgentError } from '../agent/agent-client';
import { Errno } from '../agent/protocol';
import { ExecSession } from './exec-session';
import { ExecStream, loadShimApi, ProcessList, serveShim, ShimHandlers, ShimStats } from './shim-api';

export interface ShimRequest {
  id: string;
  bundle: string;
  /** Overrides process.terminal from config.json (`run -t`). */
  terminal?: boolean;
  /** Stops the boot, cleaning up (a foreground run's Ctrl-C). */
  aborted?: AbortSignal;
}

/** The container's terminal or pipes on the host, and how to read its window size. */
export interface ShimStdio extends HostStdio {
  windowSize?(): { rows: number; cols: number } | undefined;
}

/** Opens the init process's stdio once the spec is known: a console socket needs its size. */
export type StdioOpener = (init: ProcessModel) => Promise<ShimStdio>;

const SIGKILL = 9;
const MIB = 1024 * 1024;
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
  /** What went wrong after the container's outcome was known (its VM's teardown): the caller may print it. */
  readonly warnings: string[] = [];

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
      // A failed create goes on as a delete would (the spec's rule), poststop hooks included.
      if (this.record) {
        const warnings = await runHostHooksWarning('poststop', this.record.poststop, toOciState({ ...this.record, status: 'stopped' }));
        for (const warning of warnings) this.log.debug('shim', warning, { id: this.record.id });
      }
      throw error;
    }
    created();
    const status = await this.exited;
    this.log.debug('shim', 'container exited', { id: this.record.id, status });
    await this.running!.teardown().catch((error: Error) => this.warnings.push(error.message));
    await api.run();
    this.record = { ...this.record, exitStatus: status };
    this.move('stopped');
    return status;
  }

  private async create(request: ShimRequest, openStdio: StdioOpener, stateDir: CleanupStack, api: CleanupStack): Promise<void> {
    this.sandbox = sandboxFromBundle(request.id, request.bundle, { ...translateDefaults(this.config), terminal: request.terminal });
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
      poststop: this.sandbox.hooks.poststop,
      networkNamespace: this.sandbox.networkNamespace,
    };
    this.store.write(this.record);
    const onPooledVm = (pooledVm: string | undefined): void => this.store.write((this.record = { ...this.record, pooledVm }));
    this.running = await this.launcher.launch(this.sandbox, { aborted: request.aborted, whileBooting: loadShimApi, onPooledVm });
    await this.running.agent.addContainer(this.running.container);
    const { cgroup } = this.running.container;
    if (Object.keys(cgroup).length) await this.running.agent.setCgroup(request.id, cgroup);
    for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) await runHostHooks(kind, this.sandbox.hooks[kind], toOciState(this.record));
    const socket = this.paths.shimSocket;
    fs.rmSync(socket, { force: true });
    api.push('remove the shim socket', () => fs.rmSync(socket, { force: true }));
    const server = await serveShim(socket, this);
    api.push('stop the shim API', () => server.forceShutdown());
    this.running.agent.once('close', () => this.finish(VM_DIED_STATUS));
    this.move('created');
  }

  /** Whether the container's init has a terminal (config.json, or `run -t`). */
  get terminal(): boolean {
    return this.sandbox.process.terminal;
  }

  /** Runs the init, after the startContainer hooks in the guest; resolves with the poststart hooks' warnings. */
  async start(): Promise<string[]> {
    await this.serialized(async () => {
      requireStatus(this.record, 'start', ['created']);
      const { agent } = this.running!;
      const init = this.sandbox.process;
      const size = this.stdio.windowSize?.();
      if (init.terminal && size) Object.assign(init, size);
      const relay = new StdioRelay(agent, init.containerId, init.processId, this.stdio);
      const guestHooks = { hooks: this.sandbox.hooks.startContainer ?? [], state: JSON.stringify(toOciState(this.record)) };
      await new Promise<void>((started, failed) => {
        relay.run(() => agent.startProcess(init, guestHooks).then(() => started())).then(
          (exit) => this.finish(exit.status),
          (error: RunvError) => {
            failed(error);
            this.finish(error.exitCode || VM_DIED_STATUS);
          },
        );
      });
      // A destroy does not wait for the queue: the container may have stopped meanwhile.
      if (this.record.status === 'created') this.move('running');
    });
    // Outside the queue: a slow poststart hook must not hold a kill or a delete back.
    return runHostHooksWarning('poststart', this.sandbox.hooks.poststart, toOciState(this.record));
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
      await this.hypervisor.suspend(this.running!.domain);
      this.move('paused');
    });
  }

  resume(): Promise<void> {
    return this.serialized(async () => {
      requireStatus(this.record, 'resume', ['paused']);
      await this.hypervisor.resume(this.running!.domain);
      this.move('running');
    });
  }

  async processes(): Promise<ProcessList> {
    requireStatus(this.record, 'list the processes of', ['created', 'running']);
    const processes = await this.running!.agent.listProcesses(this.record.id);
    return { processes, hostPids: [process.pid, ...this.execHostPids.values()] };
  }

  /** Changes the limits of the container's cgroup in the guest: linux.resources as JSON. */
  update(resourcesJson: string): Promise<void> {
    return this.serialized(async () => {
      requireStatus(this.record, 'update', ['created', 'running']);
      const files = cgroupFiles(JSON.parse(resourcesJson) as LinuxResources, this.sandbox.resources.memoryMiB * MIB);
      if (Object.keys(files).length) await this.running!.agent.setCgroup(this.record.id, files);
    });
  }

  /** The VM's use from libvirt and, unless the guest is frozen, the container's from its cgroup. */
  async stats(): Promise<ShimStats> {
    const vm = this.running && (await this.hypervisor.stats(this.running.domain));
    if (!vm) throw new RunvError('invalid-state', `container ${JSON.stringify(this.record.id)} has no VM`);
    const stats = { cpuTimeNs: vm.cpuTimeNs, memoryKib: vm.memoryKiB, vcpus: vm.vcpus };
    if (this.record.status === 'paused') return stats;
    const files = await this.running!.agent.readCgroup(this.record.id, ['memory.current', 'memory.max', 'memory.events', 'pids.current', 'cpu.stat']).catch((error: Error) => {
      // A guest whose kernel gave it no cgroups still has a VM to report on.
      if (error instanceof AgentError && error.errno === Errno.EOPNOTSUPP) return undefined;
      throw error;
    });
    if (!files) return stats;
    const limit = files['memory.max'].trim();
    return {
      ...stats,
      container: {
        memoryUsageBytes: Number(files['memory.current']),
        memoryLimitBytes: limit === 'max' ? this.sandbox.resources.memoryMiB * MIB : Number(limit),
        oomKills: keyedValue(files['memory.events'], 'oom_kill'),
        pids: Number(files['pids.current']),
        cpuUsageNs: keyedValue(files['cpu.stat'], 'usage_usec') * 1000,
      },
    };
  }

  /** Ends the container now, whatever its init does or any action in progress; it is reported as ended by `status`. */
  async destroy(status = 128 + SIGKILL): Promise<void> {
    this.finish(status);
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

/** A value of a flat keyed cgroup file ("oom_kill 2" in memory.events); 0 when absent. */
function keyedValue(text: string, key: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line ? Number(line.slice(key.length + 1)) : 0;
}
