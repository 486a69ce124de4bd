import * as fs from 'node:fs';
import { ClientHome } from './client-home';

/** What every client harness offers the test files. */
export interface Client {
  readonly home: ClientHome;
  /**
   * Removes every container the way a user would force it (`rm -f` and the like), then fails if
   * the client still lists one or the runtime kept state for one under the root it was given.
   */
  removeAllContainers(): Promise<void>;
  /** The client's own log, if it has one, to read when a test fails. */
  logTail(): string;
  /** Stops the client's daemons and proves nothing was left (processes, mounts, dirs, cgroups). */
  stop(): Promise<void>;
}

/**
 * Mocha hooks for a suite that drives one client: starts it before the suite, removes every
 * container after each test even when it failed, and stops it after the suite; whatever could not
 * be removed cleanly fails the suite's "after all" hook. When a test fails, stderr gets the
 * runtime calls the client made during it and the client's log. Set RUNV_CLIENT_CALLS=FILE to
 * append every test's runtime calls to FILE.
 */
export function useClient<C extends Client>(start: () => Promise<C>): () => C {
  let client: C | undefined;
  let mark = 0;
  // A test that leaves something fails the suite at its end, not at once: mocha would skip
  // every test after a failed afterEach, and the others still say something.
  const leaks: string[] = [];

  before(async function () {
    this.timeout(120_000);
    client = await start();
  });

  beforeEach(() => {
    mark = client!.home.recorder.mark();
  });

  afterEach(async function () {
    this.timeout(120_000);
    const test = this.currentTest!;
    const calls = client!.home.recorder.calls(mark);
    if (process.env.RUNV_CLIENT_CALLS) fs.appendFileSync(process.env.RUNV_CLIENT_CALLS, `# ${test.fullTitle()}\n${calls.join('\n')}\n\n`);
    if (test.state === 'failed') {
      process.stderr.write(`\n--- ${test.fullTitle()}: runtime calls (${client!.home.runtime.path}) ---\n${calls.join('\n')}\n`);
      process.stderr.write(`--- ${client!.home.client} log ---\n${client!.logTail()}\n---\n`);
    }
    try {
      await client!.removeAllContainers();
    } catch (e) {
      leaks.push(`after "${test.title}": ${(e as Error).message}`);
    }
  });

  after(async function () {
    this.timeout(120_000);
    try {
      await client?.stop();
    } catch (e) {
      leaks.push(`at the end: ${(e as Error).message}`);
    }
    if (leaks.length > 0) throw new Error(`not everything was cleaned up:\n${leaks.join('\n')}`);
  });

  return () => client!;
}
