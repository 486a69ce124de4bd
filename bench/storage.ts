/**
 * Storage benchmark: the same shell script, inside a container on each storage driver's rootfs
 * and on the host itself, writes then reads a 256 MiB file (dd, 1 MiB blocks, fsync on write;
 * the guest's page cache dropped before the read, the host's left warm) and creates, stats and
 * unlinks 5,000 small files; plus boot-to-running (create + start) per driver.
 *
 *   npm run build && npx ts-node -T bench/storage.ts [RUNS]     (runs of boot-to-running; 3)
 *
 * It is also the last part of `npm run bench`, on the default guest image, which must carry the
 * virtio-fs and ext4 modules (a `runv image build` of this checkout). RUNV_BENCH_IMAGES_DIR
 * picks another images directory, here as in the whole bench.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { StorageDriverName, STORAGE_DRIVERS } from '../src/core/model';
import { busyboxRootfs, makeBundle } from '../test/support/busybox-bundle';
import { benchImagesDir, cliArgs, createContainer, invoke, OciRuntime, runvRuntime } from './oci-runtimes';
import { median, seconds } from './stats';
import { table } from './table';
import { Workspace } from './workspace';

const MIB = 2 ** 20;
const SEQ_MIB = 256;
const FILES = 5000;
const RUN_TIMEOUT_MS = 30 * 60_000;
const BLOCK_IMAGE_BYTES = 1024 * MIB;

/** Prints `NAME START END` lines, times from /proc/uptime (10 ms steps: each step takes seconds). */
function script(dir: string, dropCaches: boolean): string {
  return `set -e
mkdir -p ${dir} && cd ${dir}
t() { read up rest < /proc/uptime; echo $up; }
a=$(t); dd if=/dev/zero of=seq bs=1M count=${SEQ_MIB} conv=fsync 2>/dev/null; echo "write $a $(t)"
${dropCaches ? 'sync; echo 3 > /proc/sys/vm/drop_caches' : ':'}
a=$(t); dd if=seq of=/dev/null bs=1M 2>/dev/null; echo "read $a $(t)"
rm seq; mkdir meta; cd meta
a=$(t); i=0; while [ $i -lt ${FILES} ]; do : > f$i; i=$((i+1)); done; echo "create $a $(t)"
a=$(t); i=0; while [ $i -lt ${FILES} ]; do [ -e f$i ]; i=$((i+1)); done; echo "stat $a $(t)"
a=$(t); rm -f f*; echo "unlink $a $(t)"
cd .. && rmdir meta`;
}

type Step = 'write' | 'read' | 'create' | 'stat' | 'unlink';

function parseSteps(output: string): Record<Step, number> {
  const steps: Partial<Record<Step, number>> = {};
  for (const line of output.trim().split('\n')) {
    const [name, from, to] = line.split(' ');
    steps[name as Step] = (Number(to) - Number(from)) * 1000;
  }
  for (const step of ['write', 'read', 'create', 'stat', 'unlink'] as const) {
    if (!(steps[step]! >= 0)) throw new Error(`storage bench: no ${step} time in ${JSON.stringify(output)}`);
  }
  return steps as Record<Step, number>;
}

/** The rootfs as each driver takes it: the directory, or an ext4 image of it (raw: qcow2 adds its own cost). */
function bundles(work: Workspace, rootfs: string, run: string, edit: (driver: StorageDriverName) => string): Record<StorageDriverName, string> {
  const raw = path.join(work.dir, 'rootfs.ext4');
  if (!fs.existsSync(raw)) {
    fs.closeSync(fs.openSync(raw, 'w'));
    fs.truncateSync(raw, BLOCK_IMAGE_BYTES);
    execFileSync('mkfs.ext4', ['-q', '-d', rootfs, raw]);
  }
  return Object.fromEntries(
    STORAGE_DRIVERS.map((driver) => [
      driver,
      makeBundle(path.join(work.dir, `storage-${run}-${driver}`), rootfs, (spec) => {
        spec.process!.args = ['sh', '-c', edit(driver)];
        spec.annotations = { 'io.runv.storage': driver };
        if (driver === 'block') spec.root = { path: raw, readonly: false };
      }),
    ]),
  ) as Record<StorageDriverName, string>;
}

/** Container ids name the driver; `9p` cannot start one. */
const idKind = (what: string, driver: StorageDriverName): string => `${what}-${driver === '9p' ? 'ninep' : driver}`;

async function bootToRunning(work: Workspace, runtime: OciRuntime, bundle: string, driver: StorageDriverName, n: number): Promise<number> {
  const id = work.newId(idKind('boot', driver), n);
  work.created(runtime, id);
  const created = await createContainer(runtime, bundle, work.pidFile(id), id);
  const started = await invoke(runtime, ['start', id]);
  await invoke(runtime, ['delete', '--force', id]);
  work.deleted(id);
  return created + started;
}

export async function storageReport(work: Workspace, runtime: OciRuntime, runs: number): Promise<string[]> {
  const rootfs = busyboxRootfs(work.dir);
  const io = bundles(work, rootfs, 'io', (driver) => script(`/bench-${driver}`, true));
  const idle = bundles(work, rootfs, 'boot', () => 'sleep 600');
  const rows: string[][] = [];
  const row = (name: string, steps: Record<Step, number>, boot: string): string[] => [
    name,
    (SEQ_MIB / (steps.write / 1000)).toFixed(1),
    (SEQ_MIB / (steps.read / 1000)).toFixed(1),
    ...(['create', 'stat', 'unlink'] as const).map((step) => (FILES / (steps[step] / 1000)).toFixed(0)),
    boot,
  ];
  process.stderr.write('bench: storage on the host itself\n');
  const host = await promisify(execFile)('busybox', ['sh', '-c', script(path.join(work.dir, 'bench-host'), false)], { timeout: RUN_TIMEOUT_MS });
  rows.push(row('host (page cache warm)', parseSteps(host.stdout), '-'));
  for (const driver of STORAGE_DRIVERS) {
    process.stderr.write(`bench: storage through ${driver}\n`);
    const id = work.newId(idKind('io', driver), 1);
    const { stdout } = await promisify(execFile)(runtime.command, cliArgs(runtime, 'run', '--bundle', io[driver], id), { timeout: RUN_TIMEOUT_MS });
    const boots: number[] = [];
    for (let n = 1; n <= runs; n++) boots.push(await bootToRunning(work, runtime, idle[driver], driver, n));
    rows.push(row(`runv ${driver}`, parseSteps(stdout), seconds(median(boots))));
  }
  return [
    `storage (TCG, 1 vCPU, 256 MiB guest; one run of the I/O script per driver, boot-to-running: median of ${runs} create+start)`,
    table(['where', `seq write MB/s`, 'seq read MB/s', `create ops/s`, 'stat ops/s', 'unlink ops/s', 'boot-to-running s'], rows),
    `(${SEQ_MIB} MiB with dd bs=1M, fsync on write, guest page cache dropped before the read; ${FILES} files by a busybox sh loop, so shell overhead under TCG is in every row; MB = MiB)`,
  ];
}

/** Standalone: the storage part only, with the runv of this checkout. */
async function main(): Promise<void> {
  const work = new Workspace();
  const runtime = runvRuntime(path.resolve(__dirname, '..', 'bin', 'run.js'), work.root, benchImagesDir());
  try {
    process.stdout.write((await storageReport(work, runtime, Number(process.argv[2] ?? 3))).join('\n') + '\n');
  } finally {
    await work.cleanUp();
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exitCode = 1;
  });
}
