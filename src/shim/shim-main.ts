/**
 * The shim process, started detached by `runv create` (process.execPath + this file + one JSON
 * argument). Its stdio is the container's; file descriptor 3 is a pipe on which it reports, in
 * one JSON line, that the container was created or why not. It exits with the container init's
 * exit status once the VM is gone.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import { openStdio } from '../console/console-stdio';
import { RunvError } from '../core/errors';
import { Logger, silentLogger } from '../core/logger';
import { ProcessModel } from '../core/model';
import { Hypervisor } from '../core/ports';
import { createContainer } from '../di/container';
import { StderrLogger } from '../log/stderr-logger';
import { RuntimeConfig } from '../runtime/runtime-config';
import { sandboxPaths } from '../runtime/sandbox-paths';
import { ContainerShim, ShimStdio } from './container-shim';
import { FORWARDED_SIGNALS } from '../runtime/signal-router';
import { reportReady } from './shim-launch';

export interface ShimArgs {
  config: RuntimeConfig;
  id: string;
  bundle: string;
  consoleSocket?: string;
  debug: boolean;
}

async function main(): Promise<number> {
  const args = JSON.parse(process.argv[2]) as ShimArgs;
  const log = shimLogger(args);
  const services = createContainer(args.config, log);
  const shim = services.get(ContainerShim);
  for (const [name, number] of Object.entries(FORWARDED_SIGNALS)) process.on(name, () => shim.onSignal(number));
  process.on('SIGWINCH', () => shim.onWindowChange());
  const initStdio = (init: ProcessModel): Promise<ShimStdio> => openStdio(args.consoleSocket, init.rows && init.cols ? { rows: init.rows, cols: init.cols } : undefined);
  try {
    const status = await shim.serve({ id: args.id, bundle: args.bundle }, initStdio, () => reportReady());
    for (const warning of shim.warnings) log.debug('shim', warning, { id: args.id });
    return status;
  } catch (error) {
    reportReady(error as Error);
    return error instanceof RunvError ? error.exitCode : 1;
  } finally {
    await services.get<Hypervisor>(Hypervisor).close();
  }
}

/** With --debug the shim logs to its state directory: its stderr belongs to the container. */
function shimLogger(args: ShimArgs): Logger {
  if (!args.debug) return silentLogger;
  const file = sandboxPaths(args.config, args.id).shimLog;
  return new StderrLogger((line) => {
    try {
      fs.appendFileSync(file, line);
    } catch {
      // Before the state directory exists there is nowhere to log.
    }
  });
}


main().then((status) => process.exit(status));
