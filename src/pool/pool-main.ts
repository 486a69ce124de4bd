/**
 * The detached filler a claim starts (VmPool.refillInBackground): process.execPath + this file +
 * one JSON argument. It boots pool VMs until the pool has its size again, then exits; with no
 * terminal and nobody waiting, what goes wrong is only visible as a pool that stays short.
 */
import 'reflect-metadata';
import { Hypervisor } from '../core/ports';
import { createContainer } from '../di/container';
import { RuntimeConfig } from '../runtime/runtime-config';
import { VmPool } from './vm-pool';

interface FillerArgs {
  config: RuntimeConfig;
  size: number;
}

async function main(): Promise<number> {
  const args = JSON.parse(process.argv[2]) as FillerArgs;
  const services = createContainer(args.config);
  try {
    await services.get(VmPool).fill(args.size, undefined, true);
    return 0;
  } catch {
    return 1;
  } finally {
    await services.get<Hypervisor>(Hypervisor).close();
  }
}

main().then((status) => process.exit(status));
