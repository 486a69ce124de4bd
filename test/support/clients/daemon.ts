import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';

/** A daemon the harness started (containerd, dockerd), its output in a log file. */
export class Daemon {
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly log: string,
  ) {
    child.on('exit', () => (this.exited = true));
  }

  /** Starts it and waits until `ready` says it answers; fails with its log if it exits first. */
  static async start(name: string, file: string, args: string[], log: string, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<Daemon> {
    const out = fs.openSync(log, 'a');
    // Its own process group: a Ctrl-C meant for mocha must not take the daemon down mid-test.
    const child = spawn(file, args, { stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    const daemon = new Daemon(name, child, log);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (daemon.exited) throw new Error(`${name} exited while starting:\n${daemon.logTail()}`);
      if (await ready()) return daemon;
      if (Date.now() > deadline) {
        await daemon.stop();
        throw new Error(`${name} did not answer within ${timeoutMs} ms:\n${daemon.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, as an init system would stop it; SIGKILL if it takes longer than `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.exited) return;
    const exit = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exit;
    clearTimeout(timer);
  }

  logTail(lines = 40): string {
    return fs.readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }
}
