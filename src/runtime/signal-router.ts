import { EventEmitter } from 'node:events';
import { RunvError } from '../core/errors';

/** Signals runv passes on to the container's process, with their numbers (the shim and exec relays too). */
export const FORWARDED_SIGNALS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };
/** The signals by which a user asks to stop: before the process runs they abort the start. */
const STOP_SIGNALS = new Set(['SIGINT', 'SIGTERM']);

/**
 * Owns runv's signal handlers for a whole run, boot and teardown included, so a Ctrl-C at any
 * moment goes through runv's cleanup instead of killing it. Before the container's process
 * runs, a stop signal aborts the start; afterwards every signal is forwarded, and a second
 * stop signal forces the teardown.
 */
export class SignalRouter {
  private readonly aborter = new AbortController();
  private readonly listeners: [string, () => void][];
  private forward: ((signal: number) => void) | undefined;
  private force: (status: number) => void = () => undefined;
  private stopsForwarded = 0;
  /** Resolves with 128+N when a second stop signal N asks to end the container now. */
  readonly forcedExit = new Promise<number>((resolve) => (this.force = resolve));

  constructor(private readonly emitter: EventEmitter) {
    this.listeners = Object.keys(FORWARDED_SIGNALS).map((name) => [name, () => this.route(name)]);
    for (const [name, listener] of this.listeners) emitter.on(name, listener);
  }

  /** Aborted when a stop signal arrives before the process runs. */
  get startAborted(): AbortSignal {
    return this.aborter.signal;
  }

  /** From now on signals go to the process; throws if a stop signal came while it was starting. */
  forwardTo(forward: (signal: number) => void): void {
    this.aborter.signal.throwIfAborted();
    this.forward = forward;
  }

  dispose(): void {
    for (const [name, listener] of this.listeners) this.emitter.off(name, listener);
  }

  private route(name: string): void {
    const signal = FORWARDED_SIGNALS[name];
    const stop = STOP_SIGNALS.has(name);
    if (!this.forward) {
      if (stop) this.aborter.abort(new RunvError('interrupted', `interrupted by ${name} while starting the container`, { exitCode: 128 + signal }));
      return;
    }
    if (stop && this.stopsForwarded++ > 0) return this.force(128 + signal);
    this.forward(signal);
  }
}
