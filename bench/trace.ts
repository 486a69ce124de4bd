import * as fs from 'node:fs';
import { assertSucceeded, findQemuOf, hasExited, isReaped, now, processArgs, residentBytes, sleep, Started, vcpuHasRun } from './processes';
import { BareTarget, RunvTarget, checkBarePoweroff, POWEROFF_LINE, startBareQemu, startRunv } from './subjects';

/**
 * Phases of a run, from what the host can observe while it runs: files appearing, console lines,
 * the QEMU process. Polling costs a little CPU, so traced runs are kept apart from timed ones.
 */
const POLL_MS = 5;

/** Milliseconds from the spawn to the first poll that saw each phase end; undefined if none did. */
export type Timeline = Record<string, number | undefined>;

interface Probe {
  readonly name: string;
  seen(): boolean;
}

async function watch(run: Started, probes: readonly Probe[], endName: string): Promise<Timeline> {
  const timeline: Timeline = {};
  let finished = false;
  const done = run.finished.finally(() => (finished = true));
  while (!finished) {
    for (const probe of probes) if (timeline[probe.name] === undefined && probe.seen()) timeline[probe.name] = now() - run.t0;
    await sleep(POLL_MS);
  }
  const result = await done;
  timeline[endName] = result.ms;
  return timeline;
}

/** The growing console log of a domain; it vanishes with the state dir at teardown. */
function consoleReader(file: string): () => string {
  let last = '';
  return () => {
    try {
      last = fs.readFileSync(file, 'utf8');
    } catch {
      // Not created yet, or already removed: keep what was read.
    }
    return last;
  };
}

export const RUNV_PHASES = [
  'libvirt opened the console log',
  'qemu process started',
  'guest vCPU began to run',
  'guest-init opened its channel',
  'container process exited',
  'guest-init got SHUTDOWN',
  'qemu process exited',
  'qemu process reaped',
  'runv exited',
] as const;

/** One `runv run` of the bundle, timed phase by phase. */
export async function traceRunv(target: RunvTarget, bundle: string, id: string, consoleLog: string, domain: string): Promise<Timeline> {
  const text = consoleReader(consoleLog);
  let qemu: number | undefined;
  const [logOpened, qemuStarted, vcpuRan, channelOpen, processExited, shutdown, qemuExited, qemuReaped, runvExited] = RUNV_PHASES;
  const run = startRunv(target, bundle, id);
  const timeline = await watch(run, [
    { name: logOpened, seen: () => fs.existsSync(consoleLog) },
    { name: qemuStarted, seen: () => (qemu ??= findQemuOf(domain)) !== undefined },
    { name: vcpuRan, seen: () => qemu !== undefined && vcpuHasRun(qemu) },
    { name: channelOpen, seen: () => /guest-init: \w+: channel \S+ is \/dev\//.test(text()) },
    { name: processExited, seen: () => /process \S+ exited/.test(text()) },
    { name: shutdown, seen: () => text().includes('shutdown requested') },
    { name: qemuExited, seen: () => qemu !== undefined && hasExited(qemu) },
    { name: qemuReaped, seen: () => qemu !== undefined && isReaped(qemu) },
  ], runvExited);
  assertSucceeded(`traced runv run ${id}`, await run.finished);
  return timeline;
}

export const BARE_PHASES = ['qemu opened its serial file', 'guest vCPU began to run', 'guest-init printed its power-off line', 'qemu exited'] as const;

/** One bare boot, timed phase by phase. */
export async function traceBare(target: BareTarget, serialFile: string): Promise<Timeline> {
  const text = consoleReader(serialFile);
  const [serialOpened, vcpuRan, guestInit, exited] = BARE_PHASES;
  const run = startBareQemu(target, serialFile);
  const pid = run.child.pid;
  const timeline = await watch(run, [
    { name: serialOpened, seen: () => fs.existsSync(serialFile) },
    { name: vcpuRan, seen: () => pid !== undefined && vcpuHasRun(pid) },
    { name: guestInit, seen: () => text().includes(POWEROFF_LINE) },
  ], exited);
  checkBarePoweroff(await run.finished, serialFile);
  return timeline;
}

export interface MemoryProbe {
  readonly rssBytes: number;
  /** The command line libvirt gave QEMU, to check the bare boot matches it. */
  readonly qemuArgs: readonly string[];
}

/**
 * RSS of a runv domain's QEMU once the guest is booted and its container runs: the bundle's
 * process must outlive the moment its start is logged by a second or two (a sleep).
 */
export async function probeMemory(target: RunvTarget, bundle: string, id: string, consoleLog: string, domain: string): Promise<MemoryProbe> {
  const text = consoleReader(consoleLog);
  const run = startRunv(target, bundle, id);
  let ended = false;
  void run.finished.then(() => (ended = true), () => (ended = true));
  let probe: MemoryProbe | undefined;
  while (!ended && !probe) {
    const qemu = findQemuOf(domain);
    if (qemu !== undefined && /process \S+ started/.test(text())) {
      const qemuArgs = processArgs(qemu);
      if (qemuArgs) probe = { rssBytes: residentBytes(qemu), qemuArgs };
    }
    await sleep(50);
  }
  assertSucceeded(`runv run ${id} (memory probe)`, await run.finished);
  if (!probe) throw new Error(`runv run ${id} ended before its QEMU could be measured`);
  return probe;
}
