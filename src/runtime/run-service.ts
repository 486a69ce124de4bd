import { EventEmitter } from 'node:events';
import { inject, injectable } from 'inversify';
import { Logger } from '../core/logger';
import { SandboxModel } from '../core/model';
import { sandboxFromBundle } from './bundle';
import { CleanupStack } from './cleanup-stack';
import { RuntimeConfig } from './runtime-config';
import { RunningSandbox, SandboxLauncher } from './sandbox-launcher';
import { sandboxPaths } from './sandbox-paths';
import { SignalRouter } from './signal-router';
import { claimStateDir } from './state-dir';
import { HostStdio, StdioRelay } from './stdio-relay';
import { enterRawMode } from '../console/local-terminal';

export interface RunRequest {
  id: string;
  bundle: string;
  /** Overrides process.terminal from config.json (`run -t`). */
  terminal?: boolean;
  stdio: HostStdio;
  /** Where runv's own signals arrive: `process`, or an emitter in tests. */
  signals: EventEmitter;
}

/** `runv run`: one container in one fresh VM, in the foreground, until its init exits. */
@injectable()
export class RunService {
  constructor(
    @inject(SandboxLauncher) private readonly launcher: SandboxLauncher,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /** Resolves with the container's exit status (128+N when killed by signal N). */
  async run(request: RunRequest): Promise<number> {
    const sandbox = sandboxFromBundle(request.id, request.bundle, { defaultStorage: this.config.storageDriver, terminal: request.terminal });
    const { stdout } = request.stdio;
    if (sandbox.process.terminal && stdout.isTTY && stdout.rows && stdout.columns) {
      sandbox.process.rows = stdout.rows;
      sandbox.process.cols = stdout.columns;
    }
    const signals = new SignalRouter(request.signals);
    // A terminal that hangs up makes stdin emit 'error'; unheard, that would crash runv mid-run.
    const ignore = (): void => undefined;
    request.stdio.stdin.on('error', ignore);
    const stateDir = new CleanupStack();
    try {
      claimStateDir(sandbox.id, sandboxPaths(this.config, sandbox.id), stateDir);
      const running = await this.launcher.launch(sandbox, signals.startAborted);
      let restoreTerminal = (): void => undefined;
      try {
        restoreTerminal = enterRawMode(request.stdio, sandbox.process.terminal);
        await running.agent.addContainer(running.container);
        return await this.supervise(running, sandbox, request, signals);
      } finally {
        restoreTerminal();
        // The container's outcome is what the caller asked for: a cleanup problem is only reported.
        await running.teardown().catch((error: Error) => request.stdio.stderr.write(`runv: warning: ${error.message}\n`));
      }
    } finally {
      await stateDir.run();
      signals.dispose();
      request.stdio.stdin.off('error', ignore);
    }
  }

  private async supervise(running: RunningSandbox, sandbox: SandboxModel, request: RunRequest, signals: SignalRouter): Promise<number> {
    const { agent } = running;
    const { containerId, processId } = sandbox.process;
    const onResize = (): void => {
      const { rows, columns } = request.stdio.stdout;
      if (rows && columns) agent.resize(containerId, processId, rows, columns).catch(() => undefined);
    };
    if (sandbox.process.terminal) request.signals.on('SIGWINCH', onResize);
    const relay = new StdioRelay(agent, containerId, processId, request.stdio);
    try {
      const exit = relay.run(async () => {
        const pid = await agent.startProcess(sandbox.process);
        this.log.debug('runtime', 'process started', { id: containerId, guestPid: pid, args: sandbox.process.args });
        signals.forwardTo((signal) => {
          this.log.debug('runtime', 'forwarding signal', { id: containerId, signal });
          agent.signal(containerId, processId, signal).catch(() => undefined);
        });
      });
      const status = await Promise.race([exit.then((e) => e.status), signals.forcedExit]);
      this.log.debug('runtime', 'process exited', { id: containerId, status });
      return status;
    } finally {
      request.signals.off('SIGWINCH', onResize);
      relay.stop();
    }
  }
}
