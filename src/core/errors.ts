/**
 * Every failure runv reports is a RunvError: a machine-readable code for callers and logs, an
 * exit code for the CLI, and a one-line message for humans. Commands never catch these to hide
 * them; the CLI boundary prints the message and exits with the code.
 */
export type ErrorCode =
  | 'invalid-argument'
  | 'invalid-spec'
  | 'not-found'
  | 'already-exists'
  | 'invalid-state'
  | 'unavailable'
  | 'image-missing'
  | 'guest'
  | 'process-not-found'
  | 'process-not-executable'
  | 'interrupted'
  | 'hook'
  | 'internal';

const exitCodes: Record<ErrorCode, number> = {
  'invalid-argument': 2,
  'invalid-spec': 2,
  'not-found': 1,
  'already-exists': 1,
  'invalid-state': 1,
  unavailable: 1,
  'image-missing': 1,
  guest: 1,
  // Like a shell: 127 when the command is not found, 126 when it cannot be executed.
  'process-not-found': 127,
  'process-not-executable': 126,
  // 128+N for signal N, given where the error is raised.
  interrupted: 130,
  hook: 1,
  internal: 1,
};

export class RunvError extends Error {
  readonly exitCode: number;

  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options);
    this.name = 'RunvError';
    this.exitCode = options?.exitCode ?? exitCodes[code];
  }
}

export const invalidSpec = (field: string, problem: string): RunvError =>
  new RunvError('invalid-spec', `config.json: ${field}: ${problem}`);
