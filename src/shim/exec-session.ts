import { PassThrough, Writable } from 'node:stream';
import { AgentClient } from '../agent/agent-client';
import { RunvError } from '../core/errors';
import { INIT_PROCESS_ID } from '../core/model';
import { processModel } from '../oci/to-sandbox';
import { parseProcess } from '../oci/validate';
import { StdioRelay } from '../runtime/stdio-relay';
import { ExecInput, ExecStream, failExec } from './shim-api';

const SIGKILL = 9;
const EXEC_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The shim's side of one exec: the client's first message says what to run; stdin, resizes and
 * signals follow; the process's output and exit status go back on the same stream. A client
 * that goes away takes its process with it.
 */
export class ExecSession {
  private processId: string | undefined;
  private readonly stdin = new PassThrough();
  private exited = false;

  constructor(
    private readonly stream: ExecStream,
    private readonly agent: AgentClient,
    private readonly containerId: string,
    private readonly checkRunning: () => void,
    /** Told of the host process standing for this exec while the exec runs, and of its end (undefined). */
    private readonly hostPid: (pid: number | undefined) => void,
  ) {}

  run(): void {
    this.stream.on('data', (input: ExecInput) => this.receive(input));
    this.stream.on('end', () => this.stdin.end());
    this.stream.on('cancelled', () => this.cancel());
    this.stream.on('error', () => this.cancel());
  }

  private receive(input: ExecInput): void {
    if ('start' in input) return this.start(input.start.processJson, input.start.execId, input.start.hostPid);
    const processId = this.processId;
    if (!processId) return this.fail(new RunvError('invalid-argument', 'exec: the first message must say what to run'));
    if ('stdin' in input) this.stdin.write(input.stdin);
    else if ('stdinClosed' in input) this.stdin.end();
    else if ('resize' in input) this.agent.resize(this.containerId, processId, input.resize.rows, input.resize.cols).catch(() => undefined);
    else if ('signal' in input) this.agent.signal(this.containerId, processId, input.signal).catch(() => undefined);
  }

  private start(processJson: string, execId: string, hostPid: number): void {
    try {
      if (this.processId) throw new RunvError('invalid-argument', 'exec: the process was already started');
      if (!EXEC_ID.test(execId) || execId === INIT_PROCESS_ID) throw new RunvError('invalid-argument', `exec: invalid exec id ${JSON.stringify(execId)}`);
      this.checkRunning();
      const oci = parseProcess(processJson, 'process');
      this.processId = execId;
      const model = processModel(oci, { containerId: this.containerId, processId: execId, init: false });
      const relay = new StdioRelay(this.agent, this.containerId, execId, { stdin: this.stdin, stdout: this.output('stdout'), stderr: this.output('stderr') });
      relay
        .run(async () => {
          this.stream.write({ startedPid: await this.agent.startProcess(model) });
          this.hostPid(hostPid);
        })
        .then((exit) => {
          this.hostPid(undefined);
          this.exited = true;
          this.stream.write({ exitStatus: exit.status });
          this.stream.end();
        }, (error: Error) => this.fail(error));
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** A host stream for the relay whose writes go to the client, waiting while the stream is full. */
  private output(which: 'stdout' | 'stderr'): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        if (this.stream.write(which === 'stdout' ? { stdout: chunk } : { stderr: chunk })) done();
        else this.stream.once('drain', () => done());
      },
    });
  }

  private fail(error: Error): void {
    this.hostPid(undefined);
    this.exited = true;
    failExec(this.stream, error);
  }

  private cancel(): void {
    if (this.exited || !this.processId) return;
    this.exited = true;
    this.agent.signal(this.containerId, this.processId, SIGKILL).catch(() => undefined);
  }
}
