import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { containerFlags, refusePreservedFds } from '../cli/container-flags';
import { RunvCommand } from '../cli/runv-command';
import { openStdio } from '../console/console-stdio';
import { enterRawMode } from '../console/local-terminal';
import { RunvError } from '../core/errors';
import { LifecycleService, writePidFile } from '../lifecycle/lifecycle-service';
import { execProcess } from '../lifecycle/exec-process';
import { sandboxPaths } from '../runtime/sandbox-paths';
import { relayExec } from '../shim/exec-client';
import type { ExecRelayArgs } from '../shim/exec-main';
import { launchDetached } from '../shim/shim-launch';

const EXEC_MAIN = path.join(__dirname, '..', 'shim', 'exec-main.js');

export default class Exec extends RunvCommand<typeof Exec> {
  static override summary = 'Run another process in a running container.';
  static override examples = ['<%= config.bin %> exec demo ls /', '<%= config.bin %> exec --process proc.json --detach --pid-file exec.pid demo'];
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override strict = false;
  static override flags = {
    process: Flags.string({ char: 'p', summary: 'OCI process JSON file: replaces the command line and the flags below.' }),
    tty: Flags.boolean({ char: 't', summary: 'Give the process a terminal (ignored with --process, whose JSON says).' }),
    'console-socket': Flags.string({ summary: 'Unix socket to send the pty master to, for a terminal.' }),
    detach: Flags.boolean({ char: 'd', summary: 'Return once the process runs; --pid-file then names a host process that exits with its status.' }),
    'pid-file': Flags.string({ summary: 'Write the pid of the host process that stands for the exec here.' }),
    env: Flags.string({ char: 'e', summary: 'Set an environment variable (KEY=value), repeatable.', multiple: true }),
    cwd: Flags.string({ summary: 'Working directory in the container.' }),
    user: Flags.string({ char: 'u', summary: 'uid[:gid] to run as.' }),
    'additional-gids': Flags.string({ char: 'g', summary: 'Additional group id, repeatable.', multiple: true }),
    'no-new-privs': Flags.boolean({ summary: 'Set no_new_privileges for the process.' }),
    cap: Flags.string({ char: 'c', summary: 'Accepted for runc compatibility: capabilities are not applied in the guest yet.', multiple: true }),
    'process-label': Flags.string({ summary: 'Accepted for runc compatibility: no SELinux in the guest.' }),
    apparmor: Flags.string({ summary: 'Accepted for runc compatibility: no AppArmor in the guest.' }),
    'preserve-fds': containerFlags['preserve-fds'],
  };

  async run(): Promise<void> {
    const { args, argv } = await this.parse(Exec);
    const lifecycle = this.container.get(LifecycleService);
    const record = lifecycle.store.read(args.id);
    const processJson = this.flags.process ? readProcessFile(this.flags.process) : JSON.stringify(execProcess(record.bundle, (argv as string[]).slice(1), this.flags));
    const terminal = (JSON.parse(processJson) as { terminal?: boolean }).terminal === true;
    const consoleSocket = this.flags['console-socket'];
    if (this.flags.detach && terminal && !consoleSocket) throw new RunvError('invalid-argument', 'a detached exec with a terminal needs --console-socket');
    refusePreservedFds(this.flags['preserve-fds']);
    const pidFile = this.flags['pid-file'] && path.resolve(this.flags['pid-file']);
    const execId = `exec-${crypto.randomBytes(8).toString('hex')}`;
    if (this.flags.detach) {
      const relay: ExecRelayArgs = { id: args.id, shimSocket: sandboxPaths(this.runtimeConfig(), args.id).shimSocket, processJson, execId, consoleSocket };
      const pid = await launchDetached(EXEC_MAIN, relay, consoleSocket ? 'ignore' : 'inherit');
      if (pidFile) writePidFile(pidFile, pid);
      return;
    }
    const shim = lifecycle.shimFor(args.id, 'exec in', ['running']);
    const stdio = await openStdio(consoleSocket);
    const restoreTerminal = consoleSocket ? () => undefined : enterRawMode(stdio, terminal);
    try {
      process.exitCode = await relayExec(shim, { processJson, execId }, stdio, () => pidFile && writePidFile(pidFile, process.pid));
    } finally {
      restoreTerminal();
    }
  }
}

function readProcessFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RunvError('invalid-argument', `--process ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
