import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultRuntimeConfig } from '../../src/runtime/runtime-config';
import { poolDir, poolVmPaths } from '../../src/pool/pool-layout';
import { mountPointsUnder } from '../../src/storage/host-mounts';
import { busyboxRootfs, makeBundle, Spec } from '../support/busybox-bundle';
import { CniNetns, CniPtp } from '../support/cni-netns';
import { assertOneLineError, createWith, RUNV, runvWith } from '../support/runv-cli';

/**
 * The warm pool for real: VMs booted by `runv pool fill` under libvirt and QEMU (TCG), taken by
 * containers through the built CLI. Its own --root, images dir and `pl-` ids.
 */
const ROOT = '/run/runv-pool';
const IMAGES = '/var/lib/runv/images-pool';
const config = defaultRuntimeConfig({ root: ROOT });
const REFILL_TIMEOUT_MS = 60_000;
const PTP: CniPtp = { name: 'runvtest-pool-ptp', ptp: true, subnets: ['10.219.0.0/24'] };

interface PoolVm {
  name: string;
  domain: string;
  status: string;
  container: string;
}

let work: string;
let rootfs: string;
let configFile: string;
const flags = (): string[] => ['--root', ROOT, '--images-dir', IMAGES, '--config', configFile];
const runv = (args: string[]): ReturnType<ReturnType<typeof runvWith>> => runvWith(flags())(args);
const create = (args: string[]): ReturnType<ReturnType<typeof createWith>> => createWith(flags())(args);

function useConfig(settings: object): void {
  fs.writeFileSync(configFile, JSON.stringify(settings));
}

async function poolVms(): Promise<PoolVm[]> {
  const result = await runv(['pool', 'list', '--format', 'json']);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as PoolVm[];
}

async function fill(size: number): Promise<PoolVm[]> {
  const result = await runv(['pool', 'fill', '--size', String(size)]);
  assert.equal(result.status, 0, result.stderr);
  const vms = await poolVms();
  assert.deepEqual(vms.map((vm) => vm.status), Array(size).fill('ready'));
  return vms;
}

function domains(): string[] {
  return execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

function bundle(id: string, script: string, edit: (spec: Spec) => void = () => undefined): string {
  return makeBundle(path.join(work, id), rootfs, (spec) => {
    spec.process!.args = ['sh', '-c', script];
    edit(spec);
  });
}

/** No pool VM, domain, mount, socket or state directory of this root is left. */
async function assertNothingLeft(seen: PoolVm[]): Promise<void> {
  assert.deepEqual(await poolVms(), []);
  const names = new Set(seen.map((vm) => vm.domain));
  assert.deepEqual(domains().filter((d) => names.has(d) || d.startsWith('runv-pl-')), [], 'no domain may remain');
  assert.deepEqual(mountPointsUnder(poolDir(ROOT)), [], 'no host mount may remain');
  for (const vm of seen) assert.equal(fs.existsSync(poolVmPaths(config, vm.name).agentSocket), false, `${vm.name}'s socket must be gone`);
  assert.deepEqual(fs.readdirSync(ROOT).filter((entry) => entry !== '.pool'), [], 'no state directory may remain');
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + REFILL_TIMEOUT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('warm pool (real libvirt, real VMs)', function () {
  this.timeout(180_000);

  before(function () {
    this.timeout(600_000);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-pl-'));
    rootfs = busyboxRootfs(work);
    configFile = path.join(work, 'config.json');
    execFileSync(RUNV, ['image', 'build', '--images-dir', IMAGES], { stdio: 'pipe' });
  });

  beforeEach(() => useConfig({}));
  afterEach(async () => {
    await runv(['pool', 'drain']);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('gives a container a booted VM: its output, exit code, rootfs and binds, and the VM goes with it', async () => {
    const [vm] = await fill(1);
    const hostDir = fs.mkdtempSync(path.join(work, 'bind-'));
    fs.writeFileSync(path.join(hostDir, 'in'), 'from the host\n');
    const b = bundle('pl-run', 'cat /data/in; echo from the vm > /data/out; echo kept > /written; hostname; exit 42', (spec) => {
      spec.hostname = 'pooled';
      spec.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'rw'] });
    });
    const result = await runv(['run', '--bundle', b, 'pl-run']);
    assert.equal(result.status, 42, result.stderr);
    assert.equal(result.stdout, 'from the host\npooled\n');
    assert.equal(fs.readFileSync(path.join(hostDir, 'out'), 'utf8'), 'from the vm\n');
    assert.equal(fs.readFileSync(path.join(rootfs, 'written'), 'utf8'), 'kept\n');
    fs.rmSync(path.join(rootfs, 'written'));
    // The pool had no size configured: nothing boots a successor.
    await assertNothingLeft([vm]);
  });

  it('shows which container holds a pool VM, and a delete after a killed shim removes the VM and its mounts', async () => {
    const [vm] = await fill(1);
    const hostDir = fs.mkdtempSync(path.join(work, 'ro-'));
    const b = bundle('pl-held', 'sleep 60', (spec) => spec.mounts!.push({ destination: '/ro', type: 'bind', source: hostDir, options: ['rbind', 'ro'] }));
    const created = await create(['--bundle', b, 'pl-held']);
    assert.equal(created.status, 0, created.stderr);
    assert.deepEqual((await poolVms()).map((v) => [v.name, v.status, v.container]), [[vm.name, 'claimed', 'pl-held']]);
    // QEMU's own view, which the guest reaches: its share read-only but for the rootfs, and the ro bind read-only too.
    const share = poolVmPaths(config, vm.name).share;
    const qemu = execFileSync('pgrep', ['-f', `guest=${vm.domain}`], { encoding: 'utf8' }).trim().split('\n')[0];
    const options = new Map(fs.readFileSync(`/proc/${qemu}/mountinfo`, 'utf8').split('\n').map((line) => line.split(' ')).filter((f) => f[4]?.startsWith(share)).map((f) => [f[4].slice(share.length) || '/', f[5].split(',')[0]]));
    assert.deepEqual(Object.fromEntries(options), { '/': 'ro', '/rootfs': 'rw', '/mounts/0': 'ro' });
    const state = JSON.parse((await runv(['state', 'pl-held'])).stdout) as { pid: number };
    process.kill(state.pid, 'SIGKILL');
    await waitFor('the shim to die', async () => ((await poolVms())[0]?.status === 'dead' ? true : undefined));
    const deleted = await runv(['delete', 'pl-held']);
    assert.equal(deleted.status, 0, deleted.stderr);
    await assertNothingLeft([vm]);
  });

  it("gives a container's netns interface the pool VM's NIC: its MAC, address and traffic, and takes it all back", async () => {
    const [vm] = await fill(1);
    const netns = new CniNetns('runvtest-pool');
    try {
      const cni = netns.add(PTP, 'eth0');
      const gateway = CniNetns.address(cni, 4).replace(/\.\d+$/, '.1');
      const macOf = (): string => JSON.parse(execFileSync('ip', ['-n', netns.name, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }))[0].address as string;
      const mac = macOf();
      const b = bundle('pl-net', `cat /sys/class/net/eth0/address; ip -4 addr show eth0 | grep -o 'inet [0-9./]*'; ping -c 2 -W 10 ${gateway} >/dev/null && echo reached`, (spec) => {
        spec.linux!.namespaces = [...(spec.linux!.namespaces ?? []).filter((n) => n.type !== 'network'), { type: 'network', path: netns.path }];
      });
      const result = await runv(['run', '--bundle', b, 'pl-net']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${mac}\ninet ${cni.ips[0].address}\nreached\n`);
      const links = (ns: string[]): string[] => (JSON.parse(execFileSync('ip', [...ns, '-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname);
      const tapPrefix = poolVmPaths(config, vm.name).tapPrefix;
      assert.deepEqual([...links([]), ...links(['-n', netns.name])].filter((name) => name.startsWith(tapPrefix)), [], 'no tap of the pool VM may remain');
      assert.equal(execFileSync('tc', ['-n', netns.name, 'filter', 'show', 'dev', 'eth0', 'ingress'], { encoding: 'utf8' }).trim(), '', 'no redirect may remain');
      assert.equal(macOf(), mac);
    } finally {
      netns.remove();
      CniNetns.removeAllocations(PTP);
    }
    await assertNothingLeft([vm]);
  });

  it('leaves a pool VM waiting for a container whose VM would differ (a memory limit): that one boots its own', async () => {
    const [vm] = await fill(1);
    const b = bundle('pl-big', 'echo own VM', (spec) => {
      spec.linux!.resources = { memory: { limit: 192 * 2 ** 20 } };
    });
    const result = await runv(['run', '--bundle', b, 'pl-big']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'own VM\n');
    assert.deepEqual((await poolVms()).map((v) => [v.name, v.status]), [[vm.name, 'ready']]);
  });

  it('boots the successor of a VM a container took when the config gives the pool a size', async () => {
    useConfig({ pool: { size: 1 } });
    const [first] = await fill(1);
    const result = await runv(['run', '--bundle', bundle('pl-refill', 'true'), 'pl-refill']);
    assert.equal(result.status, 0, result.stderr);
    const successor = await waitFor('a successor', async () => (await poolVms()).find((vm) => vm.status === 'ready'));
    assert.notEqual(successor.name, first.name, 'a VM serves one container only');
    assert.equal(domains().includes(first.domain), false);
  });

  it('skips a pool VM whose domain was destroyed behind its back: the container boots its own VM and the entry goes', async () => {
    const [vm] = await fill(1);
    execFileSync('virsh', ['-c', 'qemu:///system', 'destroy', vm.domain], { stdio: 'pipe' });
    const result = await runv(['run', '--bundle', bundle('pl-stale', 'echo still ran'), 'pl-stale']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'still ran\n');
    await assertNothingLeft([vm]);
  });

  it('drain destroys the waiting VMs', async () => {
    const vms = await fill(1);
    const result = await runv(['pool', 'drain']);
    assert.equal(result.status, 0, result.stderr);
    await assertNothingLeft(vms);
  });

  it('drain stops a filler at work, which removes the VM it was booting', async () => {
    const filling = runv(['pool', 'fill', '--size', '1']);
    const booting = await waitFor('a VM to boot', async () => (await poolVms()).find((vm) => vm.status === 'booting'));
    const drained = await runv(['pool', 'drain']);
    assert.equal(drained.status, 0, drained.stderr);
    const filled = await filling;
    assert.notEqual(filled.status, 0, 'the filler was interrupted');
    assert.match(filled.stderr, /pool fill interrupted/);
    await assertNothingLeft([booting]);
  });

  it('refuses a bad pool size in one line and boots nothing', async () => {
    useConfig({ pool: { size: 'two' } });
    assertOneLineError(await runv(['pool', 'fill']), /pool\.size must be an integer/);
    assert.deepEqual(await runvWith(['--root', ROOT])(['pool', 'list', '--format', 'json']).then((r) => JSON.parse(r.stdout) as unknown[]), []);
  });
});
