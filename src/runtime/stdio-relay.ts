import { AgentClient, ProcessExit, ProcessOutput } from '../agent/agent-client';

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

  constructor(
    private readonly agent: AgentClient,
    private readonly containerId: string,
    private readonly processId: string,
    private readonly stdio: HostStdio,
  ) {}

  /**
   * Listens before `start` is called: a short-lived process's output and exit can arrive in the
   * same read as the guest's OK to its start.
   */
  run(start: () => Promise<unknown>): Promise<ProcessExit> {
    return new Promise((resolve, reject) => {
      const onStdout = (out: ProcessOutput): void => this.forward(out, this.stdio.stdout);
      const onStderr = (out: ProcessOutput): void => this.forward(out, this.stdio.stderr);
      const onExit = (exit: ProcessExit): void => {
        if (!this.isMine(exit)) return;
        finish();
        // Exit comes after the last output: wait until it has been written out.
        this.stdio.stdout.write('', () => resolve(exit));
      };
      const onClose = (): void => {
        finish();
        reject(new Error('the agent channel closed before the process exited'));
      };
      const finish = (): void => {
        this.stopStdin();
        this.agent.off('stdout', onStdout).off('stderr', onStderr).off('exit', onExit).off('close', onClose);
      };
      this.agent.on('stdout', onStdout).on('stderr', onStderr).on('exit', onExit).on('close', onClose);
      start().then(
        () => this.pumpStdin(),
        (error) => {
          finish();
          reject(error);
        },
      );
    });
  }

  private isMine(address: { containerId: string; processId: string }): boolean {
    return address.containerId === this.containerId && address.processId === this.processId;
  }

  private forward(out: ProcessOutput, to: NodeJS.WritableStream): void {
    if (this.isMine(out)) to.write(out.data);
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
    this.stopStdin = () => {
      if (this.stdinDone) return;
      this.stdinDone = true;
      stdin.off('data', onData).off('end', onEnd);
      stdin.pause();
    };
    stdin.on('data', onData).on('end', onEnd);
    stdin.resume();
  }

  /** Until stdin is being pumped, stopping only means: never start. */
  private stopStdin: () => void = () => {
    this.stdinDone = true;
  };
}
