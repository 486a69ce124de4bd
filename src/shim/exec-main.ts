/**
 * The exec relay of `runv exec --detach`, started like the shim: its stdio is the exec'd
 * process's, it reports on file descriptor 3 once the process runs, and it exits with that
 * process's exit status, so the pid written to --pid-file behaves as the process would.
 */
import { openStdio } from '../console/console-stdio';
import { RunvError } from '../core/errors';
import { relayExec } from './exec-client';
import { ShimClient } from './shim-api';
import { reportReady } from './shim-launch';

export interface ExecRelayArgs {
  id: string;
  shimSocket: string;
  processJson: string;
  execId: string;
  consoleSocket?: string;
}

async function main(): Promise<number> {
  const args = JSON.parse(process.argv[2]) as ExecRelayArgs;
  try {
    const stdio = await openStdio(args.consoleSocket);
    const client = new ShimClient(args.id, args.shimSocket);
    return await relayExec(client, args, stdio, () => reportReady());
  } catch (error) {
    reportReady(error as Error);
    return error instanceof RunvError ? error.exitCode : 1;
  }
}


main().then((status) => process.exit(status));
