import { EventEmitter } from 'node:events';
import { inject, injectable } from 'inversify';
import { validateContainerId } from '../core/container-id';
import { SandboxModel } from '../core/model';
import { specToSandbox } from '../oci/to-sandbox';
import { loadBundle } from './bundle';
import { RunningSandbox, SandboxLauncher } from './sandbox-launcher';
import { HostStdio, StdioRelay } from './stdio-relay';

export interface RunRequest {
  id: string;
  bundle: string;
  /** Overrides process.terminal from config.json (`run -t`). */
  terminal?: boolean;
  stdio: HostStdio;
  /** Where runv's own signals arrive: `process`, or an emitter in tests. */
  signals: EventEmitter;
}

const FORWARDED_SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };
/** After one of these was forwarded, a second one tears the sandbox down: the user wants out. */
const TEARDOWN_SIGNALS = new Set(['SIGINT', 'SIGTERM']);

/** `runv run`: one container in one fresh VM, in the foreground, until its init exits. */
@injectable()
export class RunService {
  constructor(@inject(SandboxLauncher) private readonly launcher: SandboxLauncher) {}

  /** Resolves with the container's exit status (128+N when killed by signal N). */
  async run(request: RunRequest): Promise<number> {
    const sandbox = this.prepare(request);
    const { stdout } = request.stdio;
    if (sandbox.process.terminal && stdout.isTTY && stdout.rows && stdout.columns) {
      sandbox.process.rows = stdout.rows;
      sandbox.process.cols = stdout.columns;
    }
    const running = await this.launcher.launch(sandbox);
    const restoreTerminal = enterRawMode(request.stdio, sandbox.process.terminal);
    try {
      await running.agent.addContainer(sandbox.container);
      return await this.supervise(running, sandbox, request);
    } finally {
      restoreTerminal();
      await running.teardown();
    }
  }

  /** Everything that can be checked before a VM exists, so bad input creates nothing. */
  prepare(request: Pick<RunRequest, 'id' | 'bundle' | 'terminal'>): SandboxModel {
    validateContainerId(request.id);
    const bundle = loadBundle(request.bundle);
    return specToSandbox(bundle.spec, { id: request.id, bundle: bundle.dir, terminal: request.terminal });
  }

  private async supervise(running: RunningSandbox, sandbox: SandboxModel, request: RunRequest): Promise<number> {
    const { agent } = running;
    const { containerId, processId } = sandbox.process;
    let forced: ((status: number) => void) | undefined;
    const forcedExit = new Promise<number>((resolve) => (forced = resolve));
    const forwarded = new Set<string>();
    const onSignal = (name: string): void => {
      if (TEARDOWN_SIGNALS.has(name) && [...forwarded].some((s) => TEARDOWN_SIGNALS.has(s))) return forced?.(128 + FORWARDED_SIGNALS[name]);
      forwarded.add(name);
      agent.signal(containerId, processId, FORWARDED_SIGNALS[name]).catch(() => undefined);
    };
    const onResize = (): void => {
      const { rows, columns } = request.stdio.stdout;
      if (rows && columns) agent.resize(containerId, processId, rows, columns).catch(() => undefined);
    };
    const listeners = Object.keys(FORWARDED_SIGNALS).map((name) => [name, () => onSignal(name)] as const);
    if (sandbox.process.terminal) listeners.push(['SIGWINCH', onResize]);
    for (const [name, listener] of listeners) request.signals.on(name, listener);
    try {
      const exit = new StdioRelay(agent, containerId, processId, request.stdio).run(() => agent.startProcess(sandbox.process));
      return await Promise.race([exit.then((e) => e.status), forcedExit]);
    } finally {
      for (const [name, listener] of listeners) request.signals.off(name, listener);
    }
  }
}

function enterRawMode(stdio: HostStdio, terminal: boolean): () => void {
  const { stdin } = stdio;
  if (!terminal || !stdin.isTTY || !stdin.setRawMode) return () => undefined;
  stdin.setRawMode(true);
  return () => stdin.setRawMode?.(false);
}
