import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertRuntimeRootEmpty } from './leftovers';
import { BusyboxImage } from './busybox-image';
import { ClientHome } from './client-home';
import { check, Result, run, RunOptions, Running, runInTerminal } from './command';
import { Daemon } from './daemon';
import { Runtime, runtimeUnderTest } from './runtime-under-test';
import { Client } from './use-client';

/**
 * containerd 1.6 with root, state and sockets of its own (CRI plugin off), driven by `ctr`
 * through the runc shim v2, which runs the runtime under test (`ctr run --runc-binary`).
 */
export class Containerd implements Client {
  private constructor(
    readonly home: ClientHome,
    private readonly daemon: Daemon,
    /** Of its own, so its cgroup parent and runtime root are too. */
    readonly namespace: string,
  ) {}

  static async start(runtime: Runtime = runtimeUnderTest()): Promise<Containerd> {
    const namespace = `runv-test-${crypto.randomBytes(3).toString('hex')}`;
    // Built in whatever the config says: shim sockets (/run/containerd/s), the shim's default
    // runtime root, and the namespace's cgroup.
    const home = ClientHome.create('containerd', runtime, {
      paths: ['/run/containerd/s', `/run/containerd/runc/${namespace}`, '/run/containerd/runc', '/run/containerd'],
      ownCgroups: [namespace],
      sharedCgroups: [],
    });
    const config = [
      'version = 2',
      `root = ${JSON.stringify(home.path('root'))}`,
      `state = ${JSON.stringify(home.path('state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(home.path('containerd.sock'))}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(home.path('containerd.sock.ttrpc'))}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(home.path('opt'))}`,
      '',
    ].join('\n');
    fs.writeFileSync(home.path('config.toml'), config);
    const ctrVersion = (): Promise<boolean> => run('ctr', ['--address', home.path('containerd.sock'), 'version'], { timeoutMs: 5_000 }).then((r) => r.status === 0);
    try {
      const daemon = await Daemon.start('containerd', 'containerd', ['--config', home.path('config.toml')], home.path('containerd.log'), ctrVersion);
      return new Containerd(home, daemon, namespace);
    } catch (e) {
      await home.cleanUp().catch(() => undefined);
      throw e;
    }
  }

  /** The flag that makes `ctr run` use the runtime under test instead of runc. */
  get runtimeFlags(): string[] {
    return ['--runc-binary', this.home.recorder.wrapper];
  }

  /** Where the runc shim tells the runtime to keep its state (`--root`): its default. */
  get runtimeRoot(): string {
    return path.join('/run/containerd/runc', this.namespace);
  }

  ctr(args: string[], options: RunOptions = {}): Running {
    return run('ctr', this.argv(args), options);
  }

  checkCtr(args: string[], options: RunOptions = {}): Promise<Result> {
    return check('ctr', this.argv(args), options);
  }

  ctrInTerminal(args: string[], options: RunOptions = {}): Running {
    return runInTerminal('ctr', this.argv(args), options);
  }

  async importImage(image: BusyboxImage): Promise<void> {
    await this.checkCtr(['image', 'import', image.dockerArchive]);
  }

  async removeAllContainers(): Promise<void> {
    const ids = (await this.checkCtr(['containers', 'list', '--quiet'])).stdout.split('\n').filter(Boolean);
    for (const id of ids) {
      // What is not there (no task, a task already stopped) is not an error here.
      await this.ctr(['task', 'kill', '--signal', 'SIGKILL', '--all', id]);
      await this.ctr(['task', 'delete', '--force', id]);
      await this.checkCtr(['containers', 'delete', id]);
    }
    const tasks = (await this.checkCtr(['task', 'list', '--quiet'])).stdout.trim();
    if (tasks) throw new Error(`ctr still lists tasks after delete: ${tasks}`);
    assertRuntimeRootEmpty(this.runtimeRoot);
  }

  logTail(): string {
    return this.daemon.logTail();
  }

  async stop(): Promise<void> {
    try {
      await this.daemon.stop();
    } finally {
      await this.home.cleanUp();
    }
  }

  /**
   * `ctr run` and `ctr task exec` get a private --fifo-dir: ctr leaves the fifos of a detached
   * process behind in its default, /run/containerd/fifo.
   */
  private argv(args: string[]): string[] {
    const fifoDir = ['--fifo-dir', this.home.path('fifo')];
    const withFifos = args[0] === 'run' ? ['run', ...fifoDir, ...args.slice(1)] : args[0] === 'task' && args[1] === 'exec' ? ['task', 'exec', ...fifoDir, ...args.slice(2)] : args;
    return ['--address', this.home.path('containerd.sock'), '--namespace', this.namespace, ...withFifos];
  }
}
