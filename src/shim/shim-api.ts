/**
 * The shim's gRPC API (proto/shim.proto) on both ends: the server the shim runs and the client
 * every later command uses. A RunvError crosses the socket with its code and exit code, so a
 * client fails exactly as the shim did.
 */
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import { ErrorCode, RunvError } from '../core/errors';
import { PACKAGE_ROOT } from '../runtime/runtime-config';

const PROTO_FILE = path.join(PACKAGE_ROOT, 'proto', 'shim.proto');
const CODE_KEY = 'runv-code';
const EXIT_CODE_KEY = 'runv-exit-code';
/** Long enough for a pause or kill under TCG; a shim that does not answer by then is wedged. */
const CALL_TIMEOUT_MS = 30_000;
/** A start runs the spec's startContainer and poststart hooks, whose timeouts the caller does not know. */
const START_TIMEOUT_MS = 10 * 60_000;

export interface GuestProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  command: string;
}

export interface ProcessList {
  processes: GuestProcessInfo[];
  hostPids: number[];
}

/** proto/shim.proto's Stats, in the loader's camelCase. */
export interface ShimStats {
  cpuTimeNs: number;
  memoryKib: number;
  vcpus: number;
  container?: ContainerStats;
}

/** The container's cgroup in the guest. */
export interface ContainerStats {
  memoryUsageBytes: number;
  memoryLimitBytes: number;
  oomKills: number;
  pids: number;
  cpuUsageNs: number;
}

export type ExecInput =
  | { start: { processJson: string; execId: string; hostPid: number } }
  | { stdin: Buffer }
  | { stdinClosed: true }
  | { resize: { rows: number; cols: number } }
  | { signal: number };

export type ExecOutput = { startedPid: number } | { stdout: Buffer } | { stderr: Buffer } | { exitStatus: number };

export type ExecStream = grpc.ServerDuplexStream<ExecInput, ExecOutput>;

/** What the shim does for each call. */
export interface ShimHandlers {
  /** Resolves with warnings for the caller to print (failed poststart hooks). */
  start(): Promise<string[]>;
  kill(signal: number, all: boolean): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  processes(): Promise<ProcessList>;
  stats(): Promise<ShimStats>;
  update(resourcesJson: string): Promise<void>;
  destroy(): Promise<void>;
  exec(stream: ExecStream): void;
}

interface ShimApi {
  readonly grpc: typeof grpc;
  readonly service: grpc.ServiceDefinition;
}

let loaded: ShimApi | undefined;

/**
 * grpc-js, proto-loader and the parsed .proto file, loaded on first use: that costs ~70 ms,
 * which a command that never serves nor calls a shim should not pay, and which a foreground
 * run pays while its VM boots (ContainerShim), off the path of its start.
 */
export function loadShimApi(): ShimApi {
  loaded ??= loadNow();
  return loaded;
}

function loadNow(): ShimApi {
  // require, not import(): a ShimClient is made synchronously.
  const grpcJs = require('@grpc/grpc-js') as typeof grpc;
  const protoLoader = require('@grpc/proto-loader') as typeof ProtoLoader;
  const definition = protoLoader.loadSync(PROTO_FILE, { keepCase: false, longs: Number, defaults: true, oneofs: true });
  const shim = grpcJs.loadPackageDefinition(definition) as unknown as { runv: { shim: { v1: { Shim: grpc.ServiceClientConstructor } } } };
  return { grpc: grpcJs, service: shim.runv.shim.v1.Shim.service };
}

/** Serves the handlers on a unix socket until the returned server is shut down. */
export async function serveShim(socket: string, handlers: ShimHandlers): Promise<grpc.Server> {
  const { grpc, service } = loadShimApi();
  const server = new grpc.Server();
  const unary =
    <Req, Res>(handle: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      handle(call.request).then(
        (response) => callback(null, response),
        (error: Error) => callback(toServiceError(error)),
      );
    };
  server.addService(service, {
    start: unary(async () => ({ warnings: await handlers.start() })),
    kill: unary(async (request: { signal: number; all: boolean }) => (await handlers.kill(request.signal, request.all), {})),
    pause: unary(async () => (await handlers.pause(), {})),
    resume: unary(async () => (await handlers.resume(), {})),
    processes: unary(async () => handlers.processes()),
    stats: unary(async () => handlers.stats()),
    update: unary(async (request: { resourcesJson: string }) => (await handlers.update(request.resourcesJson), {})),
    destroy: unary(async () => (await handlers.destroy(), {})),
    exec: (stream: ExecStream) => handlers.exec(stream),
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  return server;
}

/** Ends an exec stream with an error the client turns back into the same RunvError. */
export function failExec(stream: ExecStream, error: Error): void {
  stream.emit('error', toServiceError(error));
}

function toServiceError(error: Error): Partial<grpc.ServiceError> {
  const { grpc } = loadShimApi();
  const known = error instanceof RunvError ? error : new RunvError('internal', error.message);
  const metadata = new grpc.Metadata();
  metadata.set(CODE_KEY, known.code);
  metadata.set(EXIT_CODE_KEY, String(known.exitCode));
  return { code: grpc.status.FAILED_PRECONDITION, details: known.message, metadata };
}

/** A client of one container's shim. */
export class ShimClient {
  private readonly client: grpc.Client & Record<string, Function>;

  constructor(
    private readonly id: string,
    socket: string,
  ) {
    const { grpc, service } = loadShimApi();
    const Client = grpc.makeGenericClientConstructor(service, 'Shim');
    this.client = new Client(`unix://${socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  }

  start(): Promise<string[]> {
    return this.call('start', {}, START_TIMEOUT_MS).then((reply) => (reply as { warnings: string[] }).warnings);
  }

  kill(signal: number, all: boolean): Promise<void> {
    return this.call('kill', { signal, all }).then(() => undefined);
  }

  pause(): Promise<void> {
    return this.call('pause', {}).then(() => undefined);
  }

  resume(): Promise<void> {
    return this.call('resume', {}).then(() => undefined);
  }

  processes(): Promise<ProcessList> {
    return this.call('processes', {}) as Promise<ProcessList>;
  }

  stats(): Promise<ShimStats> {
    return this.call('stats', {}) as Promise<ShimStats>;
  }

  update(resourcesJson: string): Promise<void> {
    return this.call('update', { resourcesJson }).then(() => undefined);
  }

  destroy(): Promise<void> {
    return this.call('destroy', {}).then(() => undefined);
  }

  exec(): grpc.ClientDuplexStream<ExecInput, ExecOutput> {
    return this.client.exec() as grpc.ClientDuplexStream<ExecInput, ExecOutput>;
  }

  /** The RunvError a failed call stands for; a shim that is gone means the container is not running. */
  fromServiceError(error: grpc.ServiceError): RunvError {
    if (error.code === loadShimApi().grpc.status.UNAVAILABLE) return new RunvError('invalid-state', `container ${JSON.stringify(this.id)} is not running`);
    const code = error.metadata?.get(CODE_KEY)[0];
    const exitCode = Number(error.metadata?.get(EXIT_CODE_KEY)[0]);
    if (typeof code !== 'string') return new RunvError('internal', `shim of ${this.id}: ${error.details || error.message}`);
    return new RunvError(code as ErrorCode, error.details, Number.isInteger(exitCode) ? { exitCode } : undefined);
  }

  close(): void {
    this.client.close();
  }

  private call(method: string, request: object, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      this.client[method](request, { deadline }, (error: grpc.ServiceError | null, response: unknown) =>
        error ? reject(this.fromServiceError(error)) : resolve(response),
      );
    });
  }
}
