import * as fs from 'node:fs';
import * as path from 'node:path';
import { shellQuote } from './command';

/** The OCI runtime a client is pointed at, and the name the client knows it by. */
export interface Runtime {
  path: string;
  name: string;
}

/**
 * runv's own CLI unless RUNV_CLIENT_RUNTIME names another binary: set it to /usr/sbin/runc to
 * prove the harness itself against the runtime these clients were built for. The name stays
 * `runv` either way, so a client treats runc exactly as it will treat runv (podman, for one,
 * only passes `--log-format=json` to runtimes whose name it knows).
 */
export function runtimeUnderTest(): Runtime {
  const fromEnv = process.env.RUNV_CLIENT_RUNTIME;
  const runtimePath = fromEnv ?? path.resolve(__dirname, '../../../bin/run.js');
  try {
    fs.accessSync(runtimePath, fs.constants.X_OK);
  } catch {
    throw new Error(`runtime under test ${runtimePath} is not an executable file${fromEnv ? ' (from RUNV_CLIENT_RUNTIME)' : ''}`);
  }
  return { path: runtimePath, name: 'runv' };
}

/**
 * A wrapper the client calls instead of the runtime: it appends its argv to a log, then execs
 * the runtime, so the runtime keeps the wrapper's pid, stdio and fds. When a client fails, the
 * calls it made are the first thing to look at.
 */
export class RuntimeRecorder {
  readonly wrapper: string;
  private readonly log: string;

  constructor(dir: string, runtime: Runtime) {
    fs.mkdirSync(dir, { recursive: true });
    this.wrapper = path.join(dir, runtime.name);
    this.log = path.join(dir, 'calls.log');
    fs.writeFileSync(this.log, '');
    // One printf: one write(2) per call, so calls made in parallel do not interleave.
    fs.writeFileSync(
      this.wrapper,
      `#!/bin/bash\nprintf '%s\\n' "$(printf '%q ' "$@")" >> ${shellQuote([this.log])}\nexec ${shellQuote([runtime.path])} "$@"\n`,
      { mode: 0o755 },
    );
  }

  /** A position in the log, to list only the calls made after it. */
  mark(): number {
    return fs.statSync(this.log).size;
  }

  /** One line per call, shell-quoted, since `mark` (or since the start). */
  calls(since = 0): string[] {
    return fs.readFileSync(this.log).subarray(since).toString().split('\n').filter(Boolean).map((l) => l.trimEnd());
  }

  /** The ids of every container the client created: the last argument of `create`. */
  containerIds(): string[] {
    return [...new Set(this.calls().map((l) => l.split(' ')).filter((argv) => argv.includes('create')).map((argv) => argv[argv.length - 1]))];
  }
}
