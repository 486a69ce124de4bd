import { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { RunvError } from '../core/errors';
import { ShimStdio } from './container-shim';
import { ExecInput, ExecOutput, ShimClient } from './shim-api';
import { FORWARDED_SIGNALS } from '../runtime/signal-router';

export interface ExecRequest {
  /** The OCI process object, as JSON. */
  processJson: string;
  execId: string;
}

/**
 * The client's side of one exec: sends the process to the shim, relays this host's stdio to and
 * from it, passes on the signals this process receives and the terminal's resizes, and resolves
 * with the exec'd process's exit status. `started` is called once the process runs.
 */
export function relayExec(client: ShimClient, request: ExecRequest, stdio: ShimStdio, started: (pid: number) => void): Promise<number> {
  const stream = client.exec();
  const signals = Object.entries(FORWARDED_SIGNALS).map(([name, signal]) => [name, () => void stream.write({ signal })] as const);
  const onResize = (): void => {
    const size = stdio.windowSize?.();
    if (size) stream.write({ resize: size });
  };
  return new Promise<number>((resolve, reject) => {
    let status: number | undefined;
    stream.on('data', (output: ExecOutput) => {
      if ('startedPid' in output) {
        started(output.startedPid);
        pumpStdin(stream, stdio);
      } else if ('stdout' in output) write(stream, stdio.stdout, output.stdout);
      else if ('stderr' in output) write(stream, stdio.stderr, output.stderr);
      else status = output.exitStatus;
    });
    stream.on('error', (error: ServiceError) => reject(client.fromServiceError(error)));
    // The exit status is the last message; the stream ends after it, once the output is written.
    stream.on('end', () => {
      if (status === undefined) reject(new RunvError('internal', 'the shim ended the exec without an exit status'));
      else stdio.stdout.write('', () => resolve(status!));
    });
    for (const [name, listener] of signals) process.on(name, listener);
    process.on('SIGWINCH', onResize);
    stream.write({ start: { ...request, hostPid: process.pid } });
  }).finally(() => {
    for (const [name, listener] of signals) process.off(name, listener);
    process.off('SIGWINCH', onResize);
    stdio.stdin.pause();
    client.close();
  });
}

/** Output waits for a full host stream to drain: the shim then slows down the guest. */
function write(stream: ClientDuplexStream<ExecInput, ExecOutput>, to: NodeJS.WritableStream, data: Buffer): void {
  if (to.write(data)) return;
  stream.pause();
  to.once('drain', () => stream.resume());
}

function pumpStdin(stream: ClientDuplexStream<ExecInput, ExecOutput>, stdio: ShimStdio): void {
  const { stdin } = stdio;
  stdin.on('data', (chunk: Buffer | string) => {
    if (!stream.write({ stdin: Buffer.from(chunk) })) {
      stdin.pause();
      stream.once('drain', () => stdin.resume());
    }
  });
  const close = (): void => void stream.write({ stdinClosed: true });
  stdin.on('end', close);
  stdin.on('error', close);
  stdin.resume();
}
