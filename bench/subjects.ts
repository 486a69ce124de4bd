import * as fs from 'node:fs';
import { assertSucceeded, Finished, start, Started } from './processes';

/** How the bench runs runv. */
export interface RunvTarget {
  /** bin/run.js of this checkout (built). */
  readonly runv: string;
  /** runv's --root: a temp dir, so container state never mixes with real containers. */
  readonly root: string;
  readonly imagesDir: string;
}

/** How the bench boots the bare baseline. */
export interface BareTarget {
  readonly kernel: string;
  readonly initrd: string;
  /** Guest RAM, machine type and kernel command line: runv's, read from its QEMU's command line. */
  readonly memoryMiB: number;
  readonly machine: string;
  readonly cmdline: string;
}

const RUN_TIMEOUT_MS = 120_000;

/**
 * guest-init powers off at once when this word is on the kernel command line (see
 * guest-init/main.c). Neither '=' nor '.': the kernel passes such unknown words in init's argv.
 */
export const POWEROFF_WORD = 'runv_poweroff';
/** The line guest-init prints before it powers off for POWEROFF_WORD. */
export const POWEROFF_LINE = 'runv_poweroff: powering off at once';
/**
 * Without POWEROFF_WORD guest-init waits this long for its host channel, which a bare boot
 * lacks, before it gives up: a bare run this slow did not take the fast path.
 */
const GUEST_INIT_PORT_WAIT_MS = 10_000;

export function runvRunArgs(target: RunvTarget, bundle: string, id: string): string[] {
  // TCG explicitly: the baseline is TCG, and `auto` would pick KVM on a host where it works.
  return ['run', '--root', target.root, '--images-dir', target.imagesDir, '--accel', 'tcg', '--bundle', bundle, id];
}

export function startRunv(target: RunvTarget, bundle: string, id: string): Started {
  return start(target.runv, runvRunArgs(target, bundle, id), RUN_TIMEOUT_MS);
}

export async function timeRunv(target: RunvTarget, bundle: string, id: string): Promise<number> {
  const run = await startRunv(target, bundle, id).finished;
  assertSucceeded(`runv run ${id}`, run);
  return run.ms;
}

/**
 * The baseline: QEMU as runv's domain runs it (TCG, same machine, RAM, kernel, initrd and
 * command line) with no devices and no libvirt, until guest-init powers the VM off.
 */
export function bareQemuArgs(target: BareTarget, serialFile: string): string[] {
  return [
    // Named threads, as libvirt runs QEMU: the trace finds the vCPU thread by its name.
    '-name', 'runv-bench-bare,debug-threads=on',
    '-machine', target.machine, '-accel', 'tcg', '-m', String(target.memoryMiB),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-serial', `file:${serialFile}`,
    '-kernel', target.kernel, '-initrd', target.initrd,
    '-append', `${target.cmdline} ${POWEROFF_WORD}`,
  ];
}

export function startBareQemu(target: BareTarget, serialFile: string): Started {
  return start('qemu-system-x86_64', bareQemuArgs(target, serialFile), RUN_TIMEOUT_MS);
}

/**
 * Proves the guest powered off through guest-init's fast path: QEMU exits 0 on a reboot too
 * (-no-reboot, panic=-1), so only the console line and the duration tell a panic or the slow
 * path apart.
 */
export function checkBarePoweroff(run: Finished, serialFile: string): void {
  assertSucceeded('bare qemu', run);
  const serial = fs.readFileSync(serialFile, 'utf8');
  if (!serial.includes(POWEROFF_LINE)) {
    throw new Error(`bare qemu exited without guest-init's "${POWEROFF_LINE}" (is the guest image built from this guest-init?); console:\n${serial.slice(-2000)}`);
  }
  if (run.ms >= GUEST_INIT_PORT_WAIT_MS) throw new Error(`bare qemu took ${(run.ms / 1000).toFixed(1)} s: not the immediate power-off`);
}

export async function timeBareQemu(target: BareTarget, serialFile: string): Promise<number> {
  const run = await startBareQemu(target, serialFile).finished;
  checkBarePoweroff(run, serialFile);
  return run.ms;
}
