import { EventEmitter } from 'node:events';
import { inject, injectable } from 'inversify';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { ContainerShim, ShimStdio } from '../shim/container-shim';
import { SignalRouter } from './signal-router';
import { HostStdio } from './stdio-relay';
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

/**
 * `runv run`: one container in one fresh VM, in the foreground, until its init exits. runv is
 * the container's shim for that time, so `state`, `list`, `kill`, `exec` and `ps` reach it as
 * they reach a detached one; it deletes the container when it ends, as runc does.
 */
@injectable()
export class RunService {
  constructor(
    @inject(ContainerShim) private readonly shim: ContainerShim,
    @inject(LifecycleService) private readonly lifecycle: LifecycleService,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /** Resolves with the container's exit status (128+N when killed by signal N). */
  async run(request: RunRequest): Promise<number> {
    const signals = new SignalRouter(request.signals);
    // A terminal that hangs up makes stdin emit 'error'; unheard, that would crash runv mid-run.
    const ignore = (): void => undefined;
    request.stdio.stdin.on('error', ignore);
    const onResize = (): void => this.shim.onWindowChange();
    request.signals.on('SIGWINCH', onResize);
    let restoreTerminal = (): void => undefined;
    let startFailure: Error | undefined;
    try {
      const stdio = localStdio(request.stdio);
      const status = await this.shim.serve({ id: request.id, bundle: request.bundle, terminal: request.terminal, aborted: signals.startAborted }, async () => stdio, () => {
        // Raw only now: until the process runs, Ctrl-C must reach runv as SIGINT to abort the boot.
        restoreTerminal = enterRawMode(request.stdio, this.shim.terminal);
        this.start(signals, request.stdio).catch((error: Error) => (startFailure = error));
      });
      for (const warning of [...this.shim.warnings, ...(await this.lifecycle.delete(request.id, false))]) request.stdio.stderr.write(`runv: warning: ${warning}\n`);
      if (startFailure) throw startFailure;
      // A stop signal before runv forwarded signals ended the container: the run was interrupted.
      if (signals.startAborted.aborted) throw signals.startAborted.reason;
      return status;
    } finally {
      restoreTerminal();
      signals.dispose();
      request.signals.off('SIGWINCH', onResize);
      request.stdio.stdin.off('error', ignore);
    }
  }

  /**
   * Starts the process, then forwards runv's signals to it; a stop signal before that ends the
   * container instead, and a second stop signal ends it whatever its process does.
   */
  private async start(signals: SignalRouter, stdio: HostStdio): Promise<void> {
    signals.forcedExit.then((status) => this.shim.destroy(status));
    // A stop signal while the process starts (or its poststart hooks run) ends the container at once.
    const abort = (): void => void this.shim.destroy((signals.startAborted.reason as RunvError).exitCode);
    signals.startAborted.addEventListener('abort', abort, { once: true });
    try {
      signals.startAborted.throwIfAborted();
      const warnings = await this.shim.start();
      for (const warning of warnings) stdio.stderr.write(`runv: warning: ${warning}\n`);
      signals.forwardTo((signal) => {
        this.log.debug('runtime', 'forwarding signal', { signal });
        this.shim.kill(signal, false).catch(() => undefined);
      });
    } catch (error) {
      const status = error instanceof RunvError ? error.exitCode : 1;
      await this.shim.destroy(status);
      throw error;
    } finally {
      signals.startAborted.removeEventListener('abort', abort);
    }
  }
}

/** runv's own stdio, as the container's; a terminal's size is read from stdout. */
function localStdio(stdio: HostStdio): ShimStdio {
  const { stdout } = stdio;
  return { ...stdio, windowSize: () => (stdout.isTTY && stdout.rows && stdout.columns ? { rows: stdout.rows, cols: stdout.columns } : undefined) };
}
