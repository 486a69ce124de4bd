/**
 * Network benchmark: TCP throughput (iperf3, each way) and request latency (HTTP GETs to
 * busybox httpd, a new connection each) between the host and a container, runc beside runv,
 * each in a netns that Debian's CNI bridge plugin set up the same way. One run of each, side by
 * side: runc's container is a process on the veth, runv's a VM behind a tap and tc redirects.
 *
 *   npm run build && npx ts-node -T bench/network.ts [IMAGES_DIR]   (also the end of `npm run bench`)
 *
 * IMAGES_DIR: guest images other than the current one in /var/lib/runv/images.
 *
 * Needs root, libvirtd, iperf3 (apt install iperf3), runc, containernetworking-plugins.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { busyboxRootfs, makeBundle, Spec } from '../test/support/busybox-bundle';
import { CniBridge, CniNetns } from '../test/support/cni-netns';
import { benchImagesDir, findExecutable, invoke, OciRuntime, ownSpecBundle, runcRuntime, runvRuntime } from './oci-runtimes';
import { now } from './processes';
import { summarize } from './stats';

const BRIDGE: CniBridge = { name: 'runvtest-bench', bridge: 'runvtest-bb0', subnets: ['10.217.0.0/24'] };
const IPERF_SECONDS = 5;
const REQUESTS = 200;
const HTTP_PORT = 8080;
const READY_TIMEOUT_MS = 120_000;
const SERVE = `mkdir -p /tmp/www && echo ok > /tmp/www/index.html && httpd -p ${HTTP_PORT} -h /tmp/www && exec iperf3 -s`;

interface NetFigures {
  toContainerMbps: number;
  fromContainerMbps: number;
  latency: { median: number; p90: number };
}

/** iperf3 and the libraries it links, copied into the rootfs at their host paths. */
function addIperf3(rootfs: string): void {
  const iperf3 = findExecutable('iperf3');
  if (!iperf3) throw new Error('iperf3 not found (apt install iperf3)');
  const libraries = execFileSync('ldd', [iperf3], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
  for (const file of [iperf3, ...libraries]) {
    const target = path.join(rootfs, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), target);
    fs.chmodSync(target, 0o755);
  }
}

function iperfMbps(address: string, reverse: boolean): number {
  const args = ['-c', address, '-t', String(IPERF_SECONDS), '-J', ...(reverse ? ['-R'] : [])];
  // iperf3 -J reports its own failures in the JSON, with a non-zero exit.
  let text: string;
  try {
    text = execFileSync('iperf3', args, { encoding: 'utf8', timeout: 60_000 });
  } catch (error) {
    text = (error as { stdout?: string }).stdout ?? '{}';
  }
  const report = JSON.parse(text) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
  const bps = report.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 ${args.join(' ')}: ${report.error ?? 'no result'}`);
  return bps / 1e6;
}

async function waitServing(url: string): Promise<void> {
  const deadline = now() + READY_TIMEOUT_MS;
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) return;
    if (now() > deadline) throw new Error(`${url} did not answer within ${READY_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function httpLatency(url: string): Promise<NetFigures['latency']> {
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = now();
    const response = await fetch(url, { headers: { connection: 'close' } });
    await response.text();
    samples.push(now() - t0);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: summarize(samples).median, p90: sorted[Math.floor(sorted.length * 0.9)] };
}

async function measure(runtime: OciRuntime, bundle: string, id: string, address: string): Promise<NetFigures> {
  await invoke(runtime, ['create', '--bundle', bundle, id], READY_TIMEOUT_MS, path.join(bundle, 'create.stderr'));
  try {
    await invoke(runtime, ['start', id]);
    const url = `http://${address}:${HTTP_PORT}/`;
    await waitServing(url);
    const latency = await httpLatency(url);
    return { toContainerMbps: iperfMbps(address, false), fromContainerMbps: iperfMbps(address, true), latency };
  } finally {
    await invoke(runtime, ['delete', '--force', id]).catch(() => undefined);
  }
}

/** Runs the comparison in `dir` (removed by the caller) and returns the report's lines. */
export async function networkReport(dir: string, runv: OciRuntime, runc: OciRuntime | undefined): Promise<string[]> {
  if (!runc) return ['network benchmark skipped: runc not found (apt install runc)'];
  const rootfs = busyboxRootfs(path.join(dir, 'net'));
  addIperf3(rootfs);
  const rows: [string, NetFigures][] = [];
  for (const runtime of [runc, runv]) {
    const netns = new CniNetns(`runvtest-bench-${runtime.key}`);
    try {
      const address = CniNetns.address(netns.add(BRIDGE, 'eth0'), 4);
      // iperf3 maps a file in /tmp, which the 9p rootfs cannot map shared: a tmpfs, for both.
      const serverSpec = (spec: Spec): void => {
        spec.process!.args = ['sh', '-c', SERVE];
        spec.mounts = [...(spec.mounts ?? []), { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] }];
        const linux = (spec.linux ?? {}) as { namespaces?: { type: string; path?: string }[] };
        linux.namespaces = [...(linux.namespaces ?? []).filter((n) => n.type !== 'network'), { type: 'network', path: netns.path }];
        spec.linux = linux;
      };
      const bundleDir = path.join(dir, `net-${runtime.key}`);
      const bundle = runtime === runv ? makeBundle(bundleDir, rootfs, serverSpec) : ownSpecBundle(runtime.command, bundleDir, rootfs, serverSpec);
      process.stderr.write(`bench: network, ${runtime.name}\n`);
      rows.push([runtime.name, await measure(runtime, bundle, `bench-net-${process.pid.toString(36)}-${runtime.key}`, address)]);
    } finally {
      netns.remove();
    }
  }
  CniNetns.removeBridges(BRIDGE);
  const cell = (f: (n: NetFigures) => number, digits: number): string[] => rows.map(([, n]) => f(n).toFixed(digits));
  return [
    `network: host <-> container over a CNI bridge, one run each (iperf3 ${IPERF_SECONDS} s, 1 stream; ${REQUESTS} HTTP GETs to busybox httpd, a new connection each)`,
    `| what | ${rows.map(([name]) => name).join(' | ')} |`,
    `|---|${rows.map(() => '---').join('|')}|`,
    `| TCP host -> container, Mbit/s | ${cell((n) => n.toContainerMbps, 0).join(' | ')} |`,
    `| TCP container -> host, Mbit/s | ${cell((n) => n.fromContainerMbps, 0).join(' | ')} |`,
    `| HTTP GET median, ms | ${cell((n) => n.latency.median, 2).join(' | ')} |`,
    `| HTTP GET p90, ms | ${cell((n) => n.latency.p90, 2).join(' | ')} |`,
  ];
}

if (require.main === module) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-bench-net-'));
  const images = process.argv[2] ? path.resolve(process.argv[2]) : benchImagesDir();
  const runv = runvRuntime(path.resolve(__dirname, '..', 'bin', 'run.js'), path.join(dir, 'runv-root'), images);
  const runc = runcRuntime(path.join(dir, 'runc-root'));
  networkReport(dir, runv, 'runtime' in runc ? runc.runtime : undefined)
    .then((lines) => process.stdout.write(lines.join('\n') + '\n'))
    .catch((error: Error) => {
      process.stderr.write(`bench: ${error.message}\n`);
      process.exitCode = 1;
    })
    .finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}
