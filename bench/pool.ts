import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { assertSucceeded, cpuSeconds, findQemuOf, residentBytes, sleep, start } from './processes';
import { RunvTarget, runvRunArgs } from './subjects';

const CLI_TIMEOUT_MS = 120_000;
/** A waiting VM is left alone this long before its idle CPU use is measured over as long again. */
const IDLE_SETTLE_MS = 2000;
const IDLE_MEASURE_MS = 5000;

interface PoolVm {
  name: string;
  domain: string;
  status: string;
}

/**
 * The warm pool for the boot benchmark, under a --root of its own: the cold runs, under the
 * bench's main root, never take its VMs.
 */
export class BenchPool {
  constructor(private readonly target: RunvTarget) {}

  /** One `runv run` that takes a VM booted beforehand (untimed), proven to have taken it. */
  async timeWarmRun(bundle: string, id: string): Promise<number> {
    await this.fill();
    const run = await start(this.target.runv, runvRunArgs(this.target, bundle, id), CLI_TIMEOUT_MS).finished;
    assertSucceeded(`runv run ${id} (warm pool)`, run);
    const left = await this.vms();
    if (left.length > 0) throw new Error(`runv run ${id} did not take the pool VM: ${left.map((vm) => `${vm.domain} ${vm.status}`).join(', ')}`);
    return run.ms;
  }

  /**
   * Runs back to back against a pool of `size` that refills itself in the background (the
   * runtime config's pool.size): what a steady stream of containers sees. A run that finds the
   * pool empty boots its own VM.
   */
  async timeBackToBack(bundle: string, ids: readonly string[], size: number): Promise<{ ms: number[]; cold: number }> {
    const config = path.join(this.target.root, '..', 'pool-config.json');
    fs.writeFileSync(config, JSON.stringify({ pool: { size } }));
    await this.runv('pool', 'fill', '--size', String(size));
    const ms: number[] = [];
    let cold = 0;
    for (const id of ids) {
      // --debug: its log says whether the run took a pool VM.
      const run = await start(this.target.runv, ['--config', config, '--debug', ...runvRunArgs(this.target, bundle, id)], CLI_TIMEOUT_MS).finished;
      assertSucceeded(`runv run ${id} (back to back)`, run);
      if (!/\[pool\] took /.test(run.stderr)) cold++;
      ms.push(run.ms);
    }
    return { ms, cold };
  }

  /** What one waiting VM costs the host: QEMU's RSS, and its CPU use while nothing happens. */
  async idleCost(): Promise<{ rssBytes: number; cpuPercent: number }> {
    await this.fill();
    const [vm] = await this.vms();
    const pid = findQemuOf(vm.domain);
    if (pid === undefined) throw new Error(`no QEMU for the pool VM ${vm.domain}`);
    await sleep(IDLE_SETTLE_MS);
    const before = cpuSeconds(pid);
    await sleep(IDLE_MEASURE_MS);
    const cpuPercent = ((cpuSeconds(pid) - before) / (IDLE_MEASURE_MS / 1000)) * 100;
    return { rssBytes: residentBytes(pid), cpuPercent };
  }

  async drain(): Promise<void> {
    await this.runv('pool', 'drain');
  }

  private async fill(): Promise<void> {
    await this.runv('pool', 'fill', '--size', '1');
  }

  private async vms(): Promise<PoolVm[]> {
    return JSON.parse(await this.runv('pool', 'list', '--format', 'json')) as PoolVm[];
  }

  /** The pool's own commands, untimed. */
  private async runv(...args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)(this.target.runv, [...args, '--root', this.target.root, '--images-dir', this.target.imagesDir, '--accel', 'tcg'], { timeout: CLI_TIMEOUT_MS });
    return stdout;
  }
}
