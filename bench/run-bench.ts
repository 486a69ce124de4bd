/**
 * Boot benchmark: `runv run` of /bin/true against a bare QEMU direct-kernel boot of the same
 * kernel and initrd whose init powers off at once, cold and with a VM from the warm pool, plus
 * the initrd size, QEMU's RSS after boot, a waiting pool VM's cost, and where runv's time goes. Then runv beside the runtimes it stands in for, through the
 * runc interface: the start-up of `state` against runc's and `node -e 0`, and a whole
 * create / start / wait / delete of /bin/true against runsc (ptrace) and runc; a runtime that
 * is not installed is skipped with a line saying so. Last, TCP throughput and request latency
 * host <-> container, runv beside runc (bench/network.ts). Figures only, no pass/fail on them.
 *
 *   npm run build && npx ts-node -T bench/run-bench.ts [RUNS]     (or RUNV_BENCH_RUNS=N; 5)
 *
 * RUNV_BENCH_IMAGES_DIR boots the guest image of another images directory (runv's --images-dir).
 *
 * Needs root, libvirtd and virtlogd, /bin/busybox (busybox-static) and a guest image built from
 * this checkout's guest-init (`bin/run.js image build`).
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { domainName } from '../src/hypervisor/domain-model';
import { CURRENT_LINK, formatMiB, ImageManifest, INITRD_FILE, MANIFEST_FILE, VMLINUX_FILE } from '../src/image/image-layout';
import { busyboxRootfs, makeBundle } from '../test/support/busybox-bundle';
import { storageReport } from './storage';
import { table } from './table';
import { Workspace } from './workspace';
import {
  benchImagesDir, cliArgs, createContainer, invoke, LIFECYCLE_STEPS, LifecycleTimes, OciRuntime, ownSpecBundle, runcRuntime, runscRuntime,
  runvRuntime, statusOf, timeLifecycle,
} from './oci-runtimes';
import { networkReport } from './network';
import { BenchPool } from './pool';
import { assertSucceeded, countQemus, start } from './processes';
import { median, seconds, summarize } from './stats';
import { BareTarget, RunvTarget, timeBareQemu, timeRunv } from './subjects';
import { BARE_PHASES, probeMemory, RUNV_PHASES, Timeline, traceBare, traceRunv } from './trace';

const DEFAULT_RUNS = 5;
const MEMORY_RUNS = 3;
const TRACED_RUNS = 3;
/** The back-to-back runs' pool: the size the runtime config gives it, refilled in the background. */
const BACK_TO_BACK_POOL_SIZE = 2;
/** `state` and `node -e 0` are cheap: more rounds steady their medians. */
const CLI_RUNS = 15;
const CLI_TIMEOUT_MS = 60_000;
const REPO = path.resolve(__dirname, '..');
const RUNV = path.join(REPO, 'bin', 'run.js');

function runCount(): number {
  const raw = process.argv[2] ?? process.env.RUNV_BENCH_RUNS ?? String(DEFAULT_RUNS);
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`run count must be a positive integer, not ${JSON.stringify(raw)}`);
  return runs;
}

interface Image {
  readonly kernel: string;
  readonly initrd: string;
  readonly manifest: ImageManifest;
}

function currentImage(imagesDir: string): Image {
  const dir = fs.realpathSync(path.join(imagesDir, CURRENT_LINK));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as ImageManifest;
  return { kernel: path.join(dir, VMLINUX_FILE), initrd: path.join(dir, INITRD_FILE), manifest };
}



/** Median time of each phase end across runs, and the step from the previous phase's median. */
function phaseRows(phases: readonly string[], timelines: readonly Timeline[]): string[][] {
  let previous = 0;
  return phases.map((phase) => {
    const seen = timelines.map((t) => t[phase]).filter((at): at is number => at !== undefined);
    if (seen.length === 0) return [phase, 'unseen', ''];
    const at = median(seen);
    const step = at - previous;
    previous = at;
    return [phase, seconds(at), seconds(step)];
  });
}

/** The QEMU option's value in libvirt's command line, e.g. '-m' -> '256'. */
function optionValue(args: readonly string[], option: string): string {
  const i = args.indexOf(option);
  if (i < 0 || i + 1 >= args.length) throw new Error(`runv's QEMU has no ${option} option: ${args.join(' ')}`);
  return args[i + 1];
}

/**
 * The bare boot is only a fair baseline if it runs the way runv's QEMU does: TCG, one vCPU, the
 * same kernel; it takes runv's machine type, RAM and kernel command line.
 */
function comparableBareTarget(qemuArgs: readonly string[], image: Image): BareTarget {
  const accel = optionValue(qemuArgs, '-accel');
  const smp = optionValue(qemuArgs, '-smp').split(',')[0];
  const kernel = optionValue(qemuArgs, '-kernel');
  if (accel !== 'tcg') throw new Error(`runv's QEMU uses -accel ${accel}, the baseline TCG`);
  if (smp !== '1') throw new Error(`runv's QEMU has ${smp} vCPUs, the baseline 1`);
  if (fs.realpathSync(kernel) !== fs.realpathSync(image.kernel)) throw new Error(`runv's QEMU boots ${kernel}, the baseline ${image.kernel}`);
  // A container on a disk boots the block initrd; the bench's 9p container must boot the plain one.
  const initrd = optionValue(qemuArgs, '-initrd');
  if (fs.realpathSync(initrd) !== fs.realpathSync(image.initrd)) throw new Error(`runv's QEMU boots the initrd ${initrd}, the baseline ${image.initrd}`);
  return {
    kernel: image.kernel,
    initrd: image.initrd,
    memoryMiB: Number(optionValue(qemuArgs, '-m')),
    machine: optionValue(qemuArgs, '-machine').split(',')[0],
    cmdline: optionValue(qemuArgs, '-append'),
  };
}

/** The ratio of two medians, then the least and the greatest ratio of the runs paired round by round. */
function ratioCells(samples: readonly number[], baseline: readonly number[]): string[] {
  const paired = summarize(samples.map((ms, i) => ms / baseline[i]));
  return [(median(samples) / median(baseline)).toFixed(2), paired.min.toFixed(2), paired.max.toFixed(2)];
}

const othersWarning = (othersBusy: number): string[] =>
  othersBusy > 0 ? [`WARNING: up to ${othersBusy} other QEMU processes ran during the timed runs: the figures are noisy`] : [];

/** A runtime measured through the runc interface, with its own --root and its own /bin/true bundle. */
interface Subject {
  readonly runtime: OciRuntime;
  readonly bundle: string;
}

/** runv, then runsc and runc where installed; for the others, a line saying why they are skipped. */
function runcInterfaceSubjects(work: Workspace, imagesDir: string, rootfs: string, runvBundle: string): { subjects: Subject[]; skipped: string[] } {
  const subjects: Subject[] = [{ runtime: runvRuntime(RUNV, work.root, imagesDir), bundle: runvBundle }];
  const skipped: string[] = [];
  for (const choice of [runscRuntime(path.join(work.dir, 'runsc-root')), runcRuntime(path.join(work.dir, 'runc-root'))]) {
    if ('skipped' in choice) {
      skipped.push(`skipped: ${choice.skipped}`);
      continue;
    }
    const { runtime } = choice;
    subjects.push({ runtime, bundle: ownSpecBundle(runtime.command, path.join(work.dir, `${runtime.key}-true`), rootfs, (spec) => void (spec.process!.args = ['/bin/true'])) });
  }
  return { subjects, skipped };
}

/**
 * CLI start-up: `state` of a created container, which containerd, conmon and buildah call over
 * and over, against `node -e 0`, the floor of any CLI written for Node.
 */
async function stateReport(work: Workspace, subjects: readonly Subject[], skipped: readonly string[]): Promise<string[]> {
  process.stderr.write(`bench: creating a container with each runtime, then ${CLI_RUNS} rounds of \`state\`\n`);
  const commands = [{ name: 'node -e 0', command: 'node', args: ['-e', '0'] }];
  const ids: string[] = [];
  for (const { runtime, bundle } of subjects) {
    const id = work.newId(`${runtime.key}-state`, 1);
    work.created(runtime, id);
    await createContainer(runtime, bundle, work.pidFile(id), id);
    // The timed command must read a real container, not take a runtime's error path.
    const status = await statusOf(runtime, id);
    if (status !== 'created') throw new Error(`${runtime.name} state ${id} says ${status}, not created`);
    ids.push(id);
    commands.push({ name: `${runtime.name} state ID`, command: runtime.command, args: cliArgs(runtime, 'state', id) });
  }
  const samples = commands.map((): number[] => []);
  let othersBusy = 0;
  // Round 0 only warms the page cache; the rounds after it interleave the commands.
  for (let round = 0; round <= CLI_RUNS; round++) {
    // Minus runv's created container, the one QEMU of our own.
    othersBusy = Math.max(othersBusy, countQemus() - 1);
    for (const [i, { name, command, args }] of commands.entries()) {
      const run = await start(command, args, CLI_TIMEOUT_MS).finished;
      assertSucceeded(name, run);
      if (round > 0) samples[i].push(run.ms);
    }
  }
  for (const [i, { runtime }] of subjects.entries()) {
    await invoke(runtime, ['delete', '--force', ids[i]]);
    work.deleted(ids[i]);
  }

  const ms = (value: number): string => value.toFixed(1);
  const rows = commands.map(({ name }, i) => {
    const summary = summarize(samples[i]);
    return [name, ms(summary.median), ms(summary.min), ms(summary.max)];
  });
  // samples[0] is node's, samples[i + 1] subjects[i]'s, and subjects[0] is runv.
  rows.push(['ratio runv / node (goal <= 1.5)', ...ratioCells(samples[1], samples[0])]);
  const runc = subjects.findIndex(({ runtime }) => runtime.key === 'runc');
  if (runc >= 0) rows.push(['ratio runv / runc', ...ratioCells(samples[1], samples[runc + 1])]);
  return [
    `CLI start-up: \`state ID\` of a created container, and node's own (${CLI_RUNS} interleaved runs each after a warm-up, spawn to exit)`,
    ...skipped,
    table(['command', 'median ms', 'min ms', 'max ms'], rows),
    '(ratios: of the medians; min/max: of the runs paired round by round)',
    ...othersWarning(othersBusy),
  ];
}

/** A whole container life of /bin/true, driven as a caller of the runc interface drives it. */
async function lifecycleReport(work: Workspace, runs: number, subjects: readonly Subject[], skipped: readonly string[]): Promise<string[]> {
  process.stderr.write(`bench: ${runs} rounds of create / start / wait / delete with ${subjects.map(({ runtime }) => runtime.name).join(', ')}\n`);
  const samples = subjects.map((): LifecycleTimes[] => []);
  let othersBusy = 0;
  for (let i = 1; i <= runs; i++) {
    othersBusy = Math.max(othersBusy, countQemus());
    for (const [j, { runtime, bundle }] of subjects.entries()) {
      const id = work.newId(`${runtime.key}-life`, i);
      samples[j].push(await timeLifecycle(runtime, bundle, work.pidFile(id), id, work));
    }
    process.stderr.write(`bench: lifecycle ${i}/${runs}: ${subjects.map(({ runtime }, j) => `${runtime.name} ${seconds(samples[j][i - 1].total)} s`).join(', ')}\n`);
  }

  const ms = (value: number): string => value.toFixed(0);
  const reapCell = (times: readonly LifecycleTimes[]): string => {
    const seen = times.map((t) => t.reap).filter(Number.isFinite);
    return seen.length ? ms(median(seen)) : 'unseen';
  };
  const totals = samples.map((times) => times.map((t) => t.total));
  const rows = subjects.map(({ runtime }, j) => {
    const total = summarize(totals[j]);
    return [runtime.name, ...LIFECYCLE_STEPS.map((step) => ms(median(samples[j].map((t) => t[step])))), ms(total.median), ms(total.min), ms(total.max)];
  });
  for (const [j, { runtime }] of subjects.entries()) {
    if (j > 0) rows.push([`ratio runv / ${runtime.key}`, '', '', '', '', ...ratioCells(totals[0], totals[j])]);
  }
  return [
    `create / start / wait until stopped / delete of /bin/true (${runs} interleaved runs each)`,
    ...skipped,
    table(['runtime', ...LIFECYCLE_STEPS.map((step) => `${step} ms`), 'total ms', 'min total', 'max total'], rows),
    '(each column its own median, so the steps need not add up to the total; ratios: of the median totals, min/max: of the runs paired round by round)',
    '(wait: until the process in the pid file has exited, then until `state` says stopped)',
    // HOST.md: these machines' PID 1 reaps orphans late, which a normal host's does not.
    `the process in the pid file, an orphan once create exits, was reaped this long after its exit (median ms): ` +
      `${subjects.map(({ runtime }, j) => `${runtime.name} ${reapCell(samples[j])}`).join(', ')}; a delete that waits for that pays this host's slow PID 1`,
    ...othersWarning(othersBusy),
  ];
}

async function main(): Promise<void> {
  const runs = runCount();
  if (!fs.existsSync(path.join(REPO, 'dist', 'commands', 'run.js'))) throw new Error('no dist/: run `npm run build` first');
  const imagesDir = benchImagesDir();
  const image = currentImage(imagesDir);
  const work = new Workspace();
  const interrupted = (signal: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${signal}, cleaning up\n`);
    work.cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const rootfs = busyboxRootfs(work.dir);
    const trueBundle = makeBundle(path.join(work.dir, 'true'), rootfs, (spec) => void (spec.process!.args = ['/bin/true']));
    const sleepBundle = makeBundle(path.join(work.dir, 'sleep'), rootfs, (spec) => void (spec.process!.args = ['/bin/sh', '-c', 'sleep 3']));
    const serialFile = (name: string): string => path.join(work.dir, `${name}.serial`);

    // Memory first: its runs also warm the page cache (a 63 MiB vmlinux) for the timed runs.
    process.stderr.write(`bench: ${MEMORY_RUNS} memory probes, then ${runs} timed runs of each, then ${TRACED_RUNS} traced runs of each\n`);
    const runvTarget: RunvTarget = { runv: RUNV, root: work.root, imagesDir };
    const probes = [];
    for (let i = 1; i <= MEMORY_RUNS; i++) {
      const id = work.newId('m', i);
      probes.push(await probeMemory(runvTarget, sleepBundle, id, work.consoleLog(id), domainName(id)));
    }
    const bareTarget = comparableBareTarget(probes[0].qemuArgs, image);

    const runvMs: number[] = [];
    const bareMs: number[] = [];
    const warmMs: number[] = [];
    const pool = new BenchPool({ ...runvTarget, root: work.poolRoot });
    let othersBusy = 0;
    for (let i = 1; i <= runs; i++) {
      othersBusy = Math.max(othersBusy, countQemus());
      runvMs.push(await timeRunv(runvTarget, trueBundle, work.newId('r', i)));
      bareMs.push(await timeBareQemu(bareTarget, serialFile(`bare-${i}`)));
      // Its pool VM boots before the timing starts; the others' QEMUs are gone by then.
      warmMs.push(await pool.timeWarmRun(trueBundle, work.newId('w', i)));
      process.stderr.write(`bench: run ${i}/${runs}: runv ${seconds(runvMs[i - 1])} s, bare ${seconds(bareMs[i - 1])} s, runv from the warm pool ${seconds(warmMs[i - 1])} s\n`);
    }
    const stream = await pool.timeBackToBack(trueBundle, Array.from({ length: runs }, (_, i) => work.newId('s', i + 1)), BACK_TO_BACK_POOL_SIZE);
    await pool.drain();
    const idle = await pool.idleCost();
    await pool.drain();

    const runvTraces: Timeline[] = [];
    const bareTraces: Timeline[] = [];
    for (let i = 1; i <= TRACED_RUNS; i++) {
      const id = work.newId('t', i);
      runvTraces.push(await traceRunv(runvTarget, trueBundle, id, work.consoleLog(id), domainName(id)));
      bareTraces.push(await traceBare(bareTarget, serialFile(`traced-${i}`)));
    }

    const runv = summarize(runvMs);
    const bare = summarize(bareMs);
    const pairRatios = summarize(runvMs.map((ms, i) => ms / bareMs[i]));
    const warm = summarize(warmMs);
    const warmRatios = summarize(warmMs.map((ms, i) => ms / bareMs[i]));
    const rss = median(probes.map((p) => p.rssBytes));
    // HOST.md: these machines' PID 1 reaps orphans ~1.5 s late, and libvirt's destroy waits for it.
    const reapWait = runvTraces.map((t) => (t['qemu process reaped'] ?? NaN) - (t['qemu process exited'] ?? NaN));
    const withoutReap = runvTraces.map((t, i) => (t['runv exited'] ?? NaN) - reapWait[i]);
    const bareTraced = median(bareTraces.map((t) => t['qemu exited'] ?? NaN));
    const out = [
      `runv boot benchmark (TCG, machine ${bareTarget.machine}, ${bareTarget.memoryMiB} MiB, 1 vCPU; ${runs} interleaved runs each, medians)`,
      table(['what', 'median s', 'min s', 'max s'], [
        ['runv run /bin/true', seconds(runv.median), seconds(runv.min), seconds(runv.max)],
        ['bare qemu, same kernel+initrd, poweroff', seconds(bare.median), seconds(bare.min), seconds(bare.max)],
        ['ratio runv / bare (goal <= 1.15)', (runv.median / bare.median).toFixed(2), pairRatios.min.toFixed(2), pairRatios.max.toFixed(2)],
        ['runv run /bin/true, VM from the warm pool', seconds(warm.median), seconds(warm.min), seconds(warm.max)],
        ['ratio warm runv / bare (goal <= 1.15)', (warm.median / bare.median).toFixed(2), warmRatios.min.toFixed(2), warmRatios.max.toFixed(2)],
        [`runv run back to back, pool of ${BACK_TO_BACK_POOL_SIZE} refilling (${stream.cold} of ${runs} found it empty)`, seconds(median(stream.ms)), seconds(Math.min(...stream.ms)), seconds(Math.max(...stream.ms))],
      ]),
      '(ratio: of the medians; min/max: of the runs paired round by round)',
      `a waiting pool VM: qemu RSS ${(idle.rssBytes / 2 ** 20).toFixed(0)} MiB, CPU ${idle.cpuPercent.toFixed(1)}% of one core while idle`,
      ...othersWarning(othersBusy),
      `initrd: ${formatMiB(image.manifest.sizes.initrd)} (with a disk: ${formatMiB(image.manifest.sizes.blockInitrd)})   vmlinux: ${formatMiB(image.manifest.sizes.vmlinux)}   ` +
        `qemu RSS after boot: ${(rss / 2 ** 20).toFixed(0)} MiB (median of ${MEMORY_RUNS}, min ${(Math.min(...probes.map((p) => p.rssBytes)) / 2 ** 20).toFixed(0)}, max ${(Math.max(...probes.map((p) => p.rssBytes)) / 2 ** 20).toFixed(0)})`,
      '',
      `where runv's time goes (${TRACED_RUNS} more runs, polled every 5 ms; medians; step = from the row above)`,
      table(['phase ends when', 'at s', 'step s'], phaseRows(RUNV_PHASES, runvTraces)),
      '',
      `bare qemu, the same way (${TRACED_RUNS} runs)`,
      table(['phase ends when', 'at s', 'step s'], phaseRows(BARE_PHASES, bareTraces)),
      '',
      `traced runv minus its wait for the host to reap QEMU (median ${seconds(median(reapWait))} s): ` +
        `${seconds(median(withoutReap))} s, ratio to traced bare ${(median(withoutReap) / bareTraced).toFixed(2)}`,
    ];
    // Printed now: a runtime failing in the parts below cannot cost these figures.
    process.stdout.write(out.join('\n') + '\n');

    const { subjects, skipped } = runcInterfaceSubjects(work, imagesDir, rootfs, trueBundle);
    process.stdout.write(['', ...(await stateReport(work, subjects, skipped)), ''].join('\n'));
    process.stdout.write(['', ...(await lifecycleReport(work, runs, subjects, skipped)), ''].join('\n'));
    process.stdout.write(['', ...(await storageReport(work, runvRuntime(RUNV, work.root, imagesDir), runs)), ''].join('\n'));
    const runc = runcRuntime(path.join(work.dir, 'runc-root'));
    process.stdout.write(['', ...(await networkReport(work.dir, runvRuntime(RUNV, work.root, imagesDir), 'runtime' in runc ? runc.runtime : undefined)), ''].join('\n'));
  } finally {
    await work.cleanUp();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`);
  process.exitCode = 1;
});
