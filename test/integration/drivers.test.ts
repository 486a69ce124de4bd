import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultRuntimeConfig } from '../../src/runtime/runtime-config';
import { sandboxPaths } from '../../src/runtime/sandbox-paths';
import { busyboxRootfs, makeBundle, Spec } from '../support/busybox-bundle';

/**
 * runv on a libvirt host it shares: with virsh users, with domains it did not make, through a
 * restart of libvirtd and the loss of its state directory; and the lxc driver for real. Real
 * libvirtd, QEMU and virsh; the built CLI as a user runs it.
 */
const RUNV = path.join(__dirname, '../../bin/run.js');
const LXC_DAEMON = path.join(__dirname, '../../scripts/lxc-libvirtd.sh');
const ROOT = '/run/runv-drv';
const QEMU_URI = 'qemu:///system';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runv(args: string[]): Result {
  const result = spawnSync(RUNV, ['--root', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runvOk(args: string[]): string {
  const result = runv(args);
  assert.equal(result.status, 0, `runv ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** `runv create` whose shim keeps create's stdio: wait for create's exit only. */
function create(id: string, bundle: string, ...flags: string[]): Promise<void> {
  const child = spawn(RUNV, ['--root', ROOT, ...flags, 'create', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => child.on('exit', (status) => (status === 0 ? resolve() : reject(new Error(`create ${id}: ${stderr}`)))));
}

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', QEMU_URI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const domains = (): string[] => virsh('list', '--all', '--name').split('\n').filter(Boolean);

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A domain runv did not make: a bare machine that idles in its firmware, with no runv metadata. */
function foreignXml(name: string): string {
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator><graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/></devices></domain>`;
}

/** The host's libvirtd, by its pid file: pgrep would also find the LXC-only daemon (scripts/lxc-libvirtd.sh). */
function libvirtdPid(): number | undefined {
  const pid = Number(fs.existsSync('/run/libvirtd.pid') ? fs.readFileSync('/run/libvirtd.pid', 'utf8') : NaN);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Started as scripts/setup.sh starts it: under tini as a subreaper, in a session of its own. */
async function startLibvirtd(): Promise<void> {
  if (libvirtdPid() === undefined) {
    const log = fs.openSync('/var/log/runv-libvirtd.log', 'a');
    spawn('setsid', ['tini', '-s', '--', 'libvirtd'], { stdio: ['ignore', log, log], detached: true }).unref();
    fs.closeSync(log);
  }
  await waitFor('libvirtd to answer', () => spawnSync('virsh', ['-c', QEMU_URI, 'version'], { stdio: 'ignore' }).status === 0);
}

let work: string;
let rootfs: string;

describe('runv next to virsh and other libvirt users (real libvirtd, QEMU, virsh)', function () {
  this.timeout(240_000);
  const used: string[] = [];
  let bundles = 0;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-drv-'));
    rootfs = busyboxRootfs(work);
  });

  afterEach(() => {
    for (const id of used.splice(0)) runv(['delete', '--force', id]);
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  function bundle(args: string[], edit: (spec: Spec) => void = () => undefined): string {
    return makeBundle(path.join(work, `bundle-${bundles++}`), rootfs, (spec) => {
      spec.process!.args = args;
      edit(spec);
    });
  }

  function id(name: string): string {
    const full = `drv-${name}`;
    used.push(full);
    return full;
  }

  it('shows its domains to virsh as what they are: named runv-<id>, with runv metadata, a console', async () => {
    const c = id('virsh');
    await create(c, bundle(['sleep', '600']));
    assert.ok(domains().includes(`runv-${c}`));
    const xml = virsh('dumpxml', `runv-${c}`);
    assert.match(xml, new RegExp(`<runv:container xmlns:runv="https://runv.dev/xmlns/container/1">\\s*<runv:id>${c}</runv:id>\\s*<runv:bundle>${work}/bundle-\\d+</runv:bundle>\\s*<runv:root>${ROOT}</runv:root>`));
    assert.match(virsh('dominfo', `runv-${c}`), /State:\s+running/);
    assert.match(virsh('ttyconsole', `runv-${c}`), /^\/dev\/pts\/\d+/, 'virsh console has a pty to attach to');
    assert.match(runvOk(['console', c]), new RegExp(`container ${c} added`), 'runv console shows what guest-init wrote');
    runvOk(['delete', '--force', c]);
    assert.ok(!domains().includes(`runv-${c}`));
  });

  it('leaves foreign domains untouched through a full lifecycle, runv list and delete of their name', async () => {
    const suffix = Math.random().toString(16).slice(2, 8);
    const defined = `drvforeign-${suffix}`;
    // Named like a runv domain, without runv's metadata: the name alone proves nothing.
    const lookalike = `runv-drv-lookalike${suffix}`;
    const file = path.join(work, 'foreign.xml');
    fs.writeFileSync(file, foreignXml(defined));
    virsh('define', file);
    fs.writeFileSync(file, foreignXml(lookalike));
    virsh('create', file);
    try {
      const before = [virsh('dumpxml', defined), virsh('dumpxml', lookalike), virsh('domstate', defined), virsh('domstate', lookalike)];
      const c = id('life');
      await create(c, bundle(['sh', '-c', 'sleep 2; exit 3']));
      runvOk(['start', c]);
      await waitFor('the container to stop', () => JSON.parse(runvOk(['state', c])).status === 'stopped');
      const listed = JSON.parse(runvOk(['list', '--format', 'json'])) as { id: string }[];
      assert.deepEqual(listed.map((s) => s.id), [c], 'runv lists only its own');
      runvOk(['delete', c]);
      // An id whose domain name is taken by the look-alike: runv must refuse, and delete leaves it.
      const taken = id(`lookalike${suffix}`);
      const refused = runv(['create', '--bundle', bundle(['true']), taken]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /already in use \(libvirt already has a domain runv-drv-lookalike/);
      assert.equal(runv(['delete', '--force', taken]).status, 0);
      assert.equal(runv(['delete', taken]).status, 1, 'not runv\'s: not found');
      assert.deepEqual([virsh('dumpxml', defined), virsh('dumpxml', lookalike), virsh('domstate', defined), virsh('domstate', lookalike)], before);
    } finally {
      spawnSync('virsh', ['-c', QEMU_URI, 'destroy', lookalike], { stdio: 'ignore' });
      spawnSync('virsh', ['-c', QEMU_URI, 'undefine', defined], { stdio: 'ignore' });
    }
  });

  it('recovers a container whose state directory was lost: list shows it from libvirt, delete removes it all', async () => {
    const c = id('lost');
    await create(c, bundle(['sleep', '600'], (spec) => spec.mounts!.push({ destination: '/data', type: 'bind', source: work, options: ['rbind', 'ro'] })));
    const paths = sandboxPaths(defaultRuntimeConfig({ root: ROOT }), c);
    const shim = JSON.parse(fs.readFileSync(paths.stateFile, 'utf8')).pid as number;
    fs.rmSync(paths.stateDir, { recursive: true });
    const listed = JSON.parse(runvOk(['list', '--format', 'json'])) as { id: string; status: string; annotations: Record<string, string> }[];
    const recovered = listed.find((s) => s.id === c);
    assert.equal(recovered?.status, 'running');
    assert.equal(recovered?.annotations['io.runv.recovered-from'], 'libvirt');
    runvOk(['delete', c]);
    assert.ok(!domains().includes(`runv-${c}`), 'the domain is gone');
    assert.ok(!fs.existsSync(paths.shareDir), 'the bind share is gone');
    await waitFor('the orphaned shim to exit with its VM', () => !isAlive(shim));
    assert.ok(!fs.existsSync(paths.stateDir), 'the exiting shim left no state behind');
    assert.deepEqual(JSON.parse(runvOk(['list', '--format', 'json'])), []);
  });

  it('keeps containers running and managed through a libvirtd restart', async () => {
    const c = id('restart');
    await create(c, bundle(['sleep', '600']));
    const qemu = Number(fs.readFileSync(`/run/libvirt/qemu/runv-${c}.pid`, 'utf8'));
    const old = libvirtdPid();
    assert.ok(old, 'libvirtd runs');
    try {
      process.kill(old, 'SIGTERM');
      await waitFor('libvirtd to exit', () => !isAlive(old));
      assert.ok(isAlive(qemu), 'the VM outlives libvirtd');
    } finally {
      await startLibvirtd();
    }
    assert.notEqual(libvirtdPid(), old);
    assert.match(virsh('domstate', `runv-${c}`), /running/, 'the new libvirtd knows the domain again');
    runvOk(['start', c]);
    assert.equal(runvOk(['exec', c, 'echo', 'still here']), 'still here\n', 'the agent channel survived');
    runvOk(['pause', c]);
    assert.match(virsh('domstate', `runv-${c}`), /paused/, "the shim's libvirt connection reopened");
    runvOk(['resume', c]);
    runvOk(['kill', c, 'KILL']);
    await waitFor('the container to stop', () => JSON.parse(runvOk(['state', c])).status === 'stopped');
    runvOk(['delete', c]);
    assert.ok(!domains().includes(`runv-${c}`));
  });
});

describe('NFV knobs that can run here: pinning, NUMA, a cgroup partition, disk QoS, hugepages, vhost-user (real VMs)', function () {
  this.timeout(120_000);
  const partition = 'drvtenant';
  const dirs = () => fs.readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/machine`).filter((d) => fs.existsSync(d)).map((d) => `${d}/${partition}.partition`);

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-drv-nfv-'));
    rootfs = busyboxRootfs(work);
    // libvirt places domains in a partition but never creates one: that is the operator's job.
    for (const dir of dirs()) fs.mkdirSync(dir, { recursive: true });
    const cpuset = '/sys/fs/cgroup/cpuset/machine';
    for (const file of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(`${cpuset}/${partition}.partition/${file}`, fs.readFileSync(`${cpuset}/${file}`));
  });

  after(() => {
    runv(['delete', '--force', 'drv-nfv']);
    for (const dir of dirs()) fs.rmdirSync(dir);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("pins vCPUs and emulator, binds memory to a NUMA node, places the VM in the partition, limits its disk (an operator's pc template)", async () => {
    // Disk QoS needs a PCI machine: the operator's own template directory says so.
    const templates = path.join(work, 'templates');
    fs.mkdirSync(templates);
    const qemuXml = fs.readFileSync(path.join(__dirname, '../../templates/qemu.xml'), 'utf8');
    fs.writeFileSync(path.join(templates, 'qemu.xml'), qemuXml.replace("machine='microvm'", "machine='pc'").replace(/<controller type='virtio-serial'[\s\S]*?<\/controller>/, ''));
    const image = path.join(work, 'rootfs.img');
    execFileSync('truncate', ['-s', '64M', image]);
    execFileSync('mkfs.ext4', ['-q', '-d', rootfs, image]);
    const b = makeBundle(path.join(work, 'nfv'), image, (spec) => {
      spec.process!.args = ['sleep', '600'];
      spec.linux = { resources: { cpu: { quota: 200000, period: 100000 } } };
      spec.annotations = {
        'io.runv.storage': 'block',
        'io.runv.cputune.vcpupin': '0:1;1:0',
        'io.runv.cputune.emulatorpin': '0',
        'io.runv.numa.nodeset': '0',
        'io.runv.partition': `/machine/${partition}`,
        'io.runv.iotune': 'total_bytes_sec=10485760,total_iops_sec=500',
      };
    });
    // A partition is a place in the host's cgroups: only an operator lets a spec pick one.
    const config = path.join(work, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ allowedAnnotations: ['io.runv.partition'] }));
    await create('drv-nfv', b, '--driver', 'qemu', '--template-dir', templates, '--config', config);
    assert.match(virsh('dumpxml', 'runv-drv-nfv'), /machine='pc-i440fx/);
    const name = 'runv-drv-nfv';
    assert.match(virsh('vcpupin', name), /^\s*0\s+1\s*$/m);
    assert.match(virsh('vcpupin', name), /^\s*1\s+0\s*$/m);
    assert.match(virsh('emulatorpin', name), /\*:\s+0\s*$/m);
    assert.match(virsh('numatune', name), /numa_mode\s+: strict\s+numa_nodeset\s+: 0/);
    const qemu = fs.readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim();
    assert.match(fs.readFileSync(`/proc/${qemu}/cgroup`, 'utf8'), new RegExp(`:memory:/machine/${partition}\\.partition/`));
    assert.match(virsh('blkdeviotune', name, 'vda'), /total_bytes_sec\s*: 10485760\s+read_bytes_sec\s*: 0[\s\S]*total_iops_sec\s*: 500/);
    runvOk(['delete', '--force', 'drv-nfv']);
  });

  it('backs the guest memory with 2 MiB hugepages the host reserved (scripts/setup.sh mounts hugetlbfs before libvirtd starts)', async () => {
    const pool = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
    const free = (): number => Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))![1]);
    const reserved = Number(fs.readFileSync(pool, 'utf8'));
    // 128 MiB of guest memory is 64 pages; a few more than that, given back afterwards.
    fs.writeFileSync(pool, String(reserved + 72));
    try {
      const before = free();
      const b = makeBundle(path.join(work, 'huge'), rootfs, (spec) => {
        spec.process!.args = ['sleep', '600'];
        spec.linux = { resources: { memory: { limit: 128 * 2 ** 20 } } };
        spec.annotations = { 'io.runv.hugepages': '2048' };
      });
      await create('drv-huge', b);
      assert.match(virsh('dumpxml', 'runv-drv-huge'), /<hugepages>\s*<page size='2048' unit='KiB'\/>/);
      assert.equal(before - free(), 64, "the guest's 128 MiB are 64 of the reserved pages");
    } finally {
      runv(['delete', '--force', 'drv-huge']);
      fs.writeFileSync(pool, String(reserved));
    }
  });

  it("gives the guest a vhost-user NIC on microvm whose frames reach the backend (dpdk-testpmd as the vhost-user server)", async () => {
    const socket = path.join(work, 'vhu.sock');
    // DPDK keeps its runtime files under /var/run/dpdk/<prefix>: a prefix of our own, removed after.
    const prefix = `drv-vhu-${process.pid}`;
    // No hugepages and no PCI: malloc'd memory and the vhost-user port alone. Line-buffered, so
    // what testpmd prints arrives as it happens; it answers the commands written to its stdin.
    const testpmd = spawn(
      'stdbuf',
      ['-oL', 'dpdk-testpmd', '--no-huge', '-m', '256', '--no-pci', '--file-prefix', prefix, '--vdev', `net_vhost0,iface=${socket}`, '-l', '0-1', '--', '-i', '--total-num-mbufs=2048', '--forward-mode=rxonly'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let output = '';
    testpmd.stdout!.on('data', (d) => (output += d));
    testpmd.stderr!.on('data', (d) => (output += d));
    const exited = new Promise((resolve) => testpmd.on('exit', resolve));
    try {
      await waitFor('testpmd to listen on the vhost-user socket', () => fs.existsSync(socket));
      const b = makeBundle(path.join(work, 'vhu'), rootfs, (spec) => {
        spec.process!.args = ['sleep', '600'];
        spec.annotations = { 'io.runv.vhostuser': socket };
      });
      // Any host socket is the host's: only an operator lets a spec name one.
      const config = path.join(work, 'vhu-config.json');
      fs.writeFileSync(config, JSON.stringify({ allowedAnnotations: ['io.runv.vhostuser'] }));
      await create('drv-vhu', b, '--config', config);
      const xml = virsh('dumpxml', 'runv-drv-vhu');
      assert.match(xml, /machine='microvm'/);
      const mac = /<interface type='vhostuser'>\s*<mac address='([0-9a-f:]+)'\/>/.exec(xml)?.[1];
      assert.ok(mac, `a vhost-user interface with a MAC in ${xml}`);
      await waitFor("the guest's virtio-net driver to set the device up", () => output.includes('virtio is now ready for processing'));
      runvOk(['start', 'drv-vhu']);
      testpmd.stdin!.write('set verbose 1\nstart\n');
      await waitFor('testpmd to receive', () => output.includes('rxonly packet forwarding'));
      // Nothing answers the ARP requests (testpmd only receives), so arping's status is 1.
      const seen = runvOk(['exec', 'drv-vhu', 'sh', '-c', 'ls /sys/class/net; readlink /sys/class/net/eth0/device/driver; cat /sys/class/net/eth0/address; ip link set eth0 up; ip addr add 192.0.2.1/24 dev eth0; arping -c 3 -I eth0 192.0.2.2 >/dev/null || true']);
      assert.deepEqual(seen.trim().split('\n'), ['eth0', 'lo', '../../../../bus/virtio/drivers/virtio_net', mac]);
      // ARP requests (ethertype 0x0806) from the guest's MAC, out through QEMU's shared memory.
      await waitFor('the ARP requests at testpmd', () => new RegExp(`src=${mac} - dst=FF:FF:FF:FF:FF:FF - .*type=0x0806`, 'i').test(output));
    } finally {
      runv(['delete', '--force', 'drv-vhu']);
      testpmd.stdin!.end('stop\nquit\n');
      const timer = setTimeout(() => testpmd.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      fs.rmSync(`/var/run/dpdk/${prefix}`, { recursive: true, force: true });
    }
  });
});

describe('the lxc driver, for real: guest-init as the LXC init (the LXC-only libvirtd of scripts/lxc-libvirtd.sh)', function () {
  this.timeout(60_000);
  const lxcUri = (): string => execFileSync(LXC_DAEMON, ['uri'], { encoding: 'utf8' }).trim();
  const lxcDomains = (): string[] => execFileSync('virsh', ['-c', lxcUri(), 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  let startedDaemon = false;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-drv-lxc-'));
    rootfs = busyboxRootfs(work);
    // The default daemon, which runv finds by itself; one already running is someone's and stays.
    startedDaemon = spawnSync('virsh', ['-c', lxcUri(), 'version'], { stdio: 'ignore' }).status !== 0;
    if (startedDaemon) execFileSync(LXC_DAEMON, ['start'], { stdio: 'ignore' });
  });

  afterEach(() => {
    for (const id of ['drv-lxc-run', 'drv-lxc-life']) runv(['--driver', 'lxc', 'delete', '--force', id]);
  });

  after(() => {
    if (startedDaemon) execFileSync(LXC_DAEMON, ['stop']);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('runs a container: its exit status, output, env, cwd, user, hostname, a bind mount; its own /dev; nothing left after', () => {
    const out = fs.mkdirSync(path.join(work, 'out'), { recursive: true })!;
    fs.chmodSync(out, 0o777);
    const b = makeBundle(path.join(work, 'run'), rootfs, (spec) => {
      spec.process!.args = ['sh', '-c', 'echo "$GREETING $(pwd) $(id -u):$(id -g) $(hostname) pid $$" > /out/result; ls -a /dev; test -c /dev/null; exit 7'];
      spec.process!.env!.push('GREETING=hello');
      spec.process!.cwd = '/tmp';
      spec.process!.user = { uid: 1000, gid: 1000 };
      spec.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    });
    const result = runv(['--driver', 'lxc', 'run', '--bundle', b, 'drv-lxc-run']);
    assert.equal(result.status, 7, result.stderr);
    assert.equal(fs.readFileSync(path.join(out, 'result'), 'utf8'), 'hello /tmp 1000:1000 runv pid 1\n');
    // The spec's /dev tmpfs hides runv's directory (guest-init and its socket) from the container.
    assert.doesNotMatch(result.stdout, /\.runv/);
    assert.match(result.stdout, /^null$/m);
    assert.ok(!lxcDomains().includes('runv-drv-lxc-run'), 'the domain ends with its container');
    assert.ok(!fs.existsSync(sandboxPaths(defaultRuntimeConfig({ root: ROOT }), 'drv-lxc-run').lxcDir));
  });

  it('create, start, exec, kill and delete drive one LXC domain, which ends with its container', async () => {
    const b = makeBundle(path.join(work, 'life'), rootfs, (spec) => {
      spec.process!.args = ['sleep', '600'];
    });
    await create('drv-lxc-life', b, '--driver', 'lxc');
    assert.ok(lxcDomains().includes('runv-drv-lxc-life'));
    assert.match(runvOk(['--driver', 'lxc', 'state', 'drv-lxc-life']), /"status": "created"/);
    runvOk(['--driver', 'lxc', 'start', 'drv-lxc-life']);
    const exec = runvOk(['--driver', 'lxc', 'exec', 'drv-lxc-life', 'sh', '-c', 'ps -o pid,args']);
    assert.match(exec, /^\s*1 sleep 600$/m);
    runvOk(['--driver', 'lxc', 'kill', 'drv-lxc-life', 'KILL']);
    await waitFor('the container to stop', () => runvOk(['--driver', 'lxc', 'state', 'drv-lxc-life']).includes('"status": "stopped"'));
    await waitFor('its domain to end', () => !lxcDomains().includes('runv-drv-lxc-life'));
    runvOk(['--driver', 'lxc', 'delete', 'drv-lxc-life']);
    assert.equal(runv(['--driver', 'lxc', 'state', 'drv-lxc-life']).status, 1);
  });
});
