/**
 * The detached filler a claim starts (VmPool.refillInBackground): process.execPath + this file +
 * one JSON argument. It boots pool VMs until the pool has its size again, then exits. Nobody
 * waits for it: what goes wrong goes to `<root>/.pool/filler.log`. SIGTERM (a drain) stops it,
 * and the VM it was booting goes.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { Hypervisor } from '../core/ports';
import { createContainer } from '../di/container';
import { RuntimeConfig } from '../runtime/runtime-config';
import { poolDir } from './pool-layout';
import { VmPool } from './vm-pool';

interface FillerArgs {
  config: RuntimeConfig;
  size: number;
}

async function main(): Promise<number> {
  const args = JSON.parse(process.argv[2]) as FillerArgs;
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort(new RunvError('interrupted', 'the filler was asked to stop')));
  const services = createContainer(args.config);
  try {
    await services.get(VmPool).fill(args.size, { requested: true, aborted: stop.signal });
    return 0;
  } catch (error) {
    const line = `${new Date().toISOString()} filler ${process.pid}: ${(error as Error).message}\n`;
    fs.appendFileSync(path.join(poolDir(args.config.root), 'filler.log'), line);
    return 1;
  } finally {
    await services.get<Hypervisor>(Hypervisor).close();
  }
}

main().then((status) => process.exit(status));
