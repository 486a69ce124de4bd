import { AgentClient, OutputStream, ProcessExit, ProcessOutput } from '../agent/agent-client';
import { RunvError } from '../core/errors';

/** The host ends of a container process's stdio: runv's own, or a test's streams. */
export interface HostStdio {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: NodeJS.WritableStream;
}

/**
 * Relays one guest process's stdio: host stdin to the guest (one chunk in flight, the guest's
 * OK is the flow control), guest stdout/stderr to the host streams. Resolves with the exit.
 */
export class StdioRelay {
  private stdinDone = false;
  /** Host streams whose reader went away (EPIPE): their output is dropped from then on. */
  private readonly broken = new Set<NodeJS.WritableStream>();
  /** Host streams that asked us to wait, with their 'drain' listeners; the guest is not read meanwhile. */
  private readonly full = new Map<NodeJS.WritableStream, () => void>();
  private detach: () => void = () => undefined;
  private stopped = false;

  constructor(
    private readonly agent: AgentClient,
    private readonly containerId: string,
    private readonly processId: string,
    private readonly stdio: HostStdio,
  ) {}

  /**
   * Listens before `start` is called: a short-lived process's output and exit can arrive in the
   * same read as the guest's OK to its start. Resolves only once `start` is done as well, so
   * whatever it does with the start happens before the caller hears of the exit.
   */
  run(start: () => Promise<unknown>): Promise<ProcessExit> {
    let started: Promise<unknown> = Promise.resolve();
    return new Promise((resolve, reject) => {
      const { stdout, stderr } = this.stdio;
      const onStdout = (out: ProcessOutput): void => this.forward(out, stdout);
      const onStderr = (out: ProcessOutput): void => this.forward(out, stderr);
      const onStdoutError = (): void => this.onBroken(stdout, OutputStream.Stdout);
      const onStderrError = (): void => this.onBroken(stderr, OutputStream.Stderr);
      const onExit = (exit: ProcessExit): void => {
        if (!this.isMine(exit)) return;
        this.stop();
        // Exit comes after the last output: wait until it has been written out.
        stdout.write('', () => void started.then(() => resolve(exit), () => undefined));
      };
      const onClose = (): void => {
        this.stop();
        reject(new RunvError('guest', 'the VM stopped before the container exited'));
      };
      // The streams' error listeners stay: an EPIPE of a write just made is emitted a tick
      // later, and a stream error without a listener would crash runv before its teardown.
      this.detach = () => {
        this.agent.off('stdout', onStdout).off('stderr', onStderr).off('exit', onExit).off('close', onClose);
      };
      this.agent.on('stdout', onStdout).on('stderr', onStderr).on('exit', onExit).on('close', onClose);
      stdout.on('error', onStdoutError);
      stderr.on('error', onStderrError);
      started = start();
      started.then(
        () => this.pumpStdin(),
        (error) => {
          this.stop();
          reject(error);
        },
      );
    });
  }

  /** Detaches from the agent and the host streams; nothing is relayed after. */
  stop(): void {
    this.stopped = true;
    this.stopStdin();
    this.detach();
    for (const [stream, onDrain] of this.full) stream.off('drain', onDrain);
    if (this.full.size) this.agent.resume();
    this.full.clear();
  }

  private isMine(address: { containerId: string; processId: string }): boolean {
    return address.containerId === this.containerId && address.processId === this.processId;
  }

  private forward(out: ProcessOutput, to: NodeJS.WritableStream): void {
    if (!this.isMine(out) || this.broken.has(to) || to.write(out.data) || this.full.has(to)) return;
    if (this.full.size === 0) this.agent.pause();
    const onDrain = (): void => this.drained(to);
    this.full.set(to, onDrain);
    to.once('drain', onDrain);
  }

  private drained(stream: NodeJS.WritableStream): void {
    const onDrain = this.full.get(stream);
    if (!onDrain) return;
    this.full.delete(stream);
    stream.off('drain', onDrain);
    if (this.full.size === 0) this.agent.resume();
  }

  /**
   * A host stream that failed (its reader went away: `runv run ... | head -1`) breaks the
   * guest's end too, so the process sees the broken pipe it would see under runc.
   */
  private onBroken(stream: NodeJS.WritableStream, which: OutputStream): void {
    if (this.stopped || this.broken.has(stream)) return;
    this.broken.add(stream);
    this.drained(stream);
    this.agent.closeOutput(this.containerId, this.processId, which).catch(() => undefined);
  }

  private pumpStdin(): void {
    if (this.stdinDone) return;
    const { stdin } = this.stdio;
    // Writes are chained so that the end of input, which a stream may announce while the last
    // chunk is still in flight, closes the guest's stdin only after that chunk was written.
    let written = Promise.resolve();
    const onData = (chunk: Buffer | string): void => {
      stdin.pause();
      written = written
        .then(() => this.agent.writeStdin(this.containerId, this.processId, Buffer.from(chunk)))
        .then(() => void (!this.stdinDone && stdin.resume()), () => this.stopStdin());
    };
    const onEnd = (): void => {
      written = written.then(() => (this.stdinDone ? undefined : this.agent.closeStdin(this.containerId, this.processId))).catch(() => undefined);
      written.finally(() => this.stopStdin());
    };
    // A terminal that hung up ends the input like end of file would.
    const onError = (): void => onEnd();
    this.stopStdin = () => {
      if (this.stdinDone) return;
      this.stdinDone = true;
      stdin.off('data', onData).off('end', onEnd).off('error', onError);
      stdin.pause();
    };
    stdin.on('data', onData).on('end', onEnd).on('error', onError);
    stdin.resume();
  }

  /** Until stdin is being pumped, stopping only means: never start. */
  private stopStdin: () => void = () => {
    this.stdinDone = true;
  };
}
