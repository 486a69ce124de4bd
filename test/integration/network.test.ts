import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultRuntimeConfig } from '../../src/runtime/runtime-config';
import { sandboxPaths } from '../../src/runtime/sandbox-paths';
import { busyboxRootfs, makeBundle } from '../support/busybox-bundle';
import { CniBridge, CniPtp, CniNetns, CniResult } from '../support/cni-netns';

/**
 * The VM gets the network a CNI plugin made in a netns: real libvirtd, QEMU, Debian's CNI
 * bridge + host-local, and traffic between the host, the VMs and their servers (busybox).
 * Its own --root, netns names (runvtest-), bridges and subnets, so other tests on the same host
 * are untouched.
 */
const RUNV = path.join(__dirname, '../../bin/run.js');
const ROOT = '/run/runv-net';
const HTTP_PORT = 8080;

const BR0: CniBridge = { name: 'runvtest-net0', bridge: 'runvtest-br0', subnets: ['10.213.0.0/24', 'fd13:213::/64'], mtu: 1400 };
const BR1: CniBridge = { name: 'runvtest-net1', bridge: 'runvtest-br1', subnets: ['10.214.0.0/24'], mtu: 9000 };
const PTP: CniPtp = { name: 'runvtest-ptp', ptp: true, subnets: ['10.217.0.0/24'] };

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let rootfs: string;

/** Runs runv to its exit; output goes through files, since a detached shim keeps create's stdio. */
async function runv(...args: string[]): Promise<Result> {
  const out = path.join(work, `out-${Math.random().toString(16).slice(2)}`);
  const fds = [fs.openSync(`${out}.1`, 'w'), fs.openSync(`${out}.2`, 'w')];
  const child = spawn(RUNV, ['--root', ROOT, ...args], { stdio: ['ignore', fds[0], fds[1]] });
  fds.forEach((fd) => fs.closeSync(fd));
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { status, stdout: fs.readFileSync(`${out}.1`, 'utf8'), stderr: fs.readFileSync(`${out}.2`, 'utf8') };
}

function bundle(name: string, args: string[], netns?: string): string {
  return makeBundle(path.join(work, name), rootfs, (spec) => {
    spec.process!.args = args;
    if (netns) spec.linux = { ...spec.linux, namespaces: [{ type: 'pid' }, { type: 'network', path: netns }] };
  });
}

async function checked(...args: string[]): Promise<Result> {
  const result = await runv(...args);
  assert.equal(result.status, 0, `runv ${args.join(' ')}: ${result.stderr}`);
  return result;
}

/** The body of an HTTP GET, retried while the VM boots and its server starts. */
async function httpGet(url: string, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return await response.text();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`GET ${url}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

const ip = <T>(netns: string | undefined, ...args: string[]): T[] =>
  JSON.parse(execFileSync('ip', [...(netns ? ['-n', netns] : []), '-j', ...args], { encoding: 'utf8' }) || '[]') as T[];
const tc = <T>(netns: string, ...args: string[]): T[] =>
  JSON.parse(execFileSync('ip', ['netns', 'exec', netns, 'tc', '-j', ...args], { encoding: 'utf8' }) || '[]') as T[];

type Link = { ifname: string; address: string };

/** Whether the host's kernel has a queueing discipline, tried on a throwaway netns's loopback. */
function hostHasQdisc(kind: string): boolean {
  const probe = 'runvtest-qdisc';
  execFileSync('ip', ['netns', 'add', probe]);
  try {
    return spawnSync('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', kind]).status === 0;
  } finally {
    execFileSync('ip', ['netns', 'del', probe]);
  }
}

function tapPrefix(id: string): string {
  return sandboxPaths(defaultRuntimeConfig({ root: ROOT }), id).tapPrefix;
}

/** Links runv made for these containers, in the host's netns and in the given ones. */
function tapsOf(ids: string[], ...netnss: string[]): string[] {
  const prefixes = ids.map(tapPrefix);
  return [undefined, ...netnss].flatMap((ns) => ip<Link>(ns, 'link', 'show').map((l) => l.ifname).filter((name) => prefixes.some((p) => name.startsWith(p))));
}

function ingressFilters(netns: string, dev: string): unknown[] {
  return tc(netns, 'filter', 'show', 'dev', dev, 'ingress');
}

function ingressQdiscs(netns: string): string[] {
  return tc<{ kind: string; dev: string }>(netns, 'qdisc', 'show').filter((q) => q.kind === 'ingress').map((q) => q.dev);
}

function domains(): string[] {
  return execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('runv-net-'));
}

/** A TCP server on the host that records the first line a client sends, then closes. */
async function lineServer(host: string): Promise<{ port: number; line: Promise<string>; close: () => void }> {
  const server = net.createServer();
  const line = new Promise<string>((resolve) =>
    server.on('connection', (socket) => {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
        if (text.includes('\n')) {
          resolve(text.split('\n')[0]);
          socket.end();
        }
      });
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { port: (server.address() as net.AddressInfo).port, line, close: () => server.close() };
}

describe('networking: the VM gets the interfaces of the netns in config.json', function () {
  this.timeout(240_000);

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-net-'));
    rootfs = busyboxRootfs(work);
  });

  after(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  describe('two containers on a CNI bridge, one with a second interface', () => {
    let a: CniNetns;
    let b: CniNetns;
    let a0: CniResult;
    let a1: CniResult;
    let b0: CniResult;
    let linksBefore: Link[];
    let fromVm: Awaited<ReturnType<typeof lineServer>>;

    before(async () => {
      a = new CniNetns('runvtest-net-a');
      b = new CniNetns('runvtest-net-b');
      a0 = a.add(BR0, 'eth0');
      a1 = a.add(BR1, 'eth1');
      b0 = b.add(BR0, 'eth0');
      linksBefore = ip<Link>(a.name, 'link', 'show');
      fromVm = await lineServer(CniNetns.address(a0, 4).replace(/\.\d+$/, '.1'));
      const serve = [
        'mkdir -p /tmp/www-a && cd /tmp/www-a && echo hello from the VM > index.html',
        'ip addr > addr && ip route > route && ip -6 route > route6',
        `echo from the VM | nc ${CniNetns.address(a0, 4).replace(/\.\d+$/, '.1')} ${fromVm.port}`,
        `exec httpd -f -p ${HTTP_PORT} -h /tmp/www-a`,
      ].join('; ');
      await checked('run', '-d', '--bundle', bundle('a', ['sh', '-c', serve], a.path), 'net-a');
    });

    after(async () => {
      fromVm.close();
      await runv('delete', '--force', 'net-a');
      await runv('delete', '--force', 'net-b');
      a.remove();
      b.remove();
      CniNetns.removeBridges(BR0, BR1);
    });

    it('lets the host reach a server in the VM over IPv4 and IPv6, on each interface', async () => {
      assert.equal(await httpGet(`http://${CniNetns.address(a0, 4)}:${HTTP_PORT}/`), 'hello from the VM\n');
      assert.equal(await httpGet(`http://[${CniNetns.address(a0, 6)}]:${HTTP_PORT}/`), 'hello from the VM\n');
      assert.equal(await httpGet(`http://${CniNetns.address(a1, 4)}:${HTTP_PORT}/`), 'hello from the VM\n');
    });

    it('lets the VM open a connection to the host', async () => {
      assert.equal(await fromVm.line, 'from the VM');
    });

    it('gives the guest the MACs, MTUs, addresses and routes of the netns', async () => {
      const addr = await httpGet(`http://${CniNetns.address(a0, 4)}:${HTTP_PORT}/addr`);
      for (const [ifname, mtu] of [['eth0', 1400], ['eth1', 9000]] as const) {
        const mac = linksBefore.find((l) => l.ifname === ifname)!.address;
        assert.match(addr, new RegExp(`: ${ifname}: .* mtu ${mtu} [\\s\\S]*?link/ether ${mac}`), addr);
      }
      for (const address of [a0.ips[0].address, a0.ips[1].address, a1.ips[0].address]) assert.ok(addr.includes(`inet${address.includes(':') ? '6' : ''} ${address} `), `${address} in ${addr}`);
      assert.match(await httpGet(`http://${CniNetns.address(a0, 4)}:${HTTP_PORT}/route`), /^default via 10\.213\.0\.1 dev eth0/m);
    });

    it('connects two runv containers across the bridge: ping over IPv4 and IPv6', async () => {
      const ping = `ping -c 2 -W 10 ${CniNetns.address(a0, 4)} && ping6 -c 2 -W 10 ${CniNetns.address(a0, 6)}`;
      const result = await runv('run', '--bundle', bundle('b', ['sh', '-c', ping], b.path), 'net-b');
      assert.equal(result.status, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /2 packets transmitted, 2 packets received/);
      assert.equal(CniNetns.address(b0, 4).startsWith('10.213.0.'), true);
    });

    it('removes its taps and redirect filters on delete, and leaves the netns with the links CNI made', async () => {
      assert.equal(tapsOf(['net-a'], a.name).length, 2, 'the taps exist while the container runs');
      assert.equal(ingressFilters(a.name, 'eth0').length > 0, true, 'eth0 is redirected while the container runs');
      await checked('delete', '--force', 'net-a');
      assert.deepEqual(tapsOf(['net-a', 'net-b'], a.name, b.name), []);
      assert.deepEqual(ingressQdiscs(a.name), []);
      assert.deepEqual(ingressQdiscs(b.name), []);
      assert.deepEqual(ip<Link>(a.name, 'link', 'show').map((l) => [l.ifname, l.address]), linksBefore.map((l) => [l.ifname, l.address]));
      assert.deepEqual(domains(), []);
    });

    it("goes before the caller's own ingress filters, and keeps them and their qdisc", async () => {
      execFileSync('ip', ['netns', 'exec', b.name, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'ingress']);
      execFileSync('ip', ['netns', 'exec', b.name, 'tc', 'filter', 'add', 'dev', 'eth0', 'parent', 'ffff:', 'pref', '10', 'protocol', 'ip', 'u32', 'match', 'u32', '0', '0', 'classid', '1:1']);
      try {
        const result = await runv('run', '--bundle', bundle('b', ['ping', '-c', '1', '-W', '10', '10.213.0.1'], b.path), 'net-b');
        assert.equal(result.status, 0, result.stdout + result.stderr);
        assert.deepEqual(ingressFilters(b.name, 'eth0').map((f) => (f as { pref: number }).pref).filter((p, i, all) => all.indexOf(p) === i), [10]);
      } finally {
        execFileSync('ip', ['netns', 'exec', b.name, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'ingress']);
      }
    });

    it('removes the taps and filters of a container whose shim was killed, on delete', async () => {
      await checked('create', '--bundle', bundle('b', ['sleep', '600'], b.path), 'net-b');
      const { pid } = JSON.parse((await checked('state', 'net-b')).stdout) as { pid: number };
      assert.equal(tapsOf(['net-b'], b.name).length, 1);
      process.kill(pid, 'SIGKILL');
      await checked('delete', '--force', 'net-b');
      assert.deepEqual(tapsOf(['net-b'], b.name), []);
      assert.deepEqual(ingressQdiscs(b.name), []);
      assert.deepEqual(domains(), []);
    });
  });

  it("works with CNI's ptp plugin: a /32 address, a route through the host's end, no bridge", async () => {
    const netns = new CniNetns('runvtest-net-ptp');
    try {
      const result = netns.add(PTP, 'eth0');
      const serve = `mkdir -p /tmp/www-p && cd /tmp/www-p && ip route > route && exec httpd -f -p ${HTTP_PORT} -h /tmp/www-p`;
      await checked('run', '-d', '--bundle', bundle('ptp', ['sh', '-c', serve], netns.path), 'net-ptp');
      const route = await httpGet(`http://${CniNetns.address(result, 4)}:${HTTP_PORT}/route`);
      assert.match(route, new RegExp(`^default via ${result.ips[0].gateway!.replace(/\./g, '\\.')} dev eth0`, 'm'));
    } finally {
      await runv('delete', '--force', 'net-ptp');
      netns.remove();
      CniNetns.removeAllocations(PTP);
    }
    assert.deepEqual(tapsOf(['net-ptp']), []);
  });

  it('limits the bandwidth of the VM\'s interfaces with io.runv.bandwidth, or says in one line why the host cannot', async () => {
    const netns = new CniNetns('runvtest-net-bw');
    try {
      const result = netns.add(PTP, 'eth0');
      const b = bundle('bw', ['sh', '-c', `mkdir -p /tmp/w && cd /tmp/w && echo limited > index.html && exec httpd -f -p ${HTTP_PORT} -h /tmp/w`], netns.path);
      const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
      spec.annotations = { 'io.runv.bandwidth': 'inbound.average=1000,outbound.average=500' };
      fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
      const run = await runv('run', '-d', '--bundle', b, 'net-bw');
      if (!hostHasQdisc('sfq')) {
        // libvirt shapes with htb + sfq: a kernel without sfq (this host's) cannot, and nothing may be left.
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, /^runv: libvirt could not start the domain: .*sfq.*Specified qdisc kind is unknown/);
        assert.deepEqual([domains(), tapsOf(['net-bw'], netns.name)], [[], []]);
        return;
      }
      assert.equal(run.status, 0, run.stderr);
      assert.equal(await httpGet(`http://${CniNetns.address(result, 4)}:${HTTP_PORT}/`), 'limited\n');
      const [tap] = tapsOf(['net-bw'], netns.name);
      const qdiscs = JSON.stringify(tc<object>(netns.name, 'qdisc', 'show', 'dev', tap));
      assert.match(qdiscs, /"kind":"htb"/, `libvirt's inbound limit is on the tap: ${qdiscs}`);
    } finally {
      await runv('delete', '--force', 'net-bw');
      netns.remove();
      CniNetns.removeAllocations(PTP);
    }
  });

  it('gives a container without a netns path loopback only', async () => {
    const result = await checked('run', '--bundle', bundle('lo', ['sh', '-c', 'ls /sys/class/net; ping -c 1 -W 5 127.0.0.1 >/dev/null && echo lo works']), 'net-lo');
    assert.equal(result.stdout, 'lo\nlo works\n');
  });

  describe('bad input: one line, non-zero exit, nothing left', () => {
    let tun: CniNetns | undefined;

    afterEach(() => {
      tun?.remove();
      tun = undefined;
    });

    async function refuses(netns: string, pattern: RegExp): Promise<void> {
      const result = await runv('run', '--bundle', bundle('bad', ['true'], netns), 'net-bad');
      assert.notEqual(result.status, 0);
      assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.deepEqual(domains(), []);
      assert.deepEqual(tapsOf(['net-bad']), []);
      assert.equal(fs.existsSync(path.join(ROOT, 'net-bad')), false, 'no state directory');
    }

    it('a netns path that does not exist', () => refuses('/run/netns/runvtest-none', /^runv: config\.json: linux\.namespaces: network namespace \/run\/netns\/runvtest-none does not exist \(ENOENT\)$/m));

    it('a path that is not a namespace', () => {
      const file = path.join(work, 'not-a-netns');
      fs.writeFileSync(file, '');
      return refuses(file, /network namespace .*not-a-netns is not a namespace$/m);
    });

    it('a namespace of another type', () => refuses('/proc/self/ns/uts', /network namespace \/proc\/self\/ns\/uts is not a network namespace$/m));

    it("runv's own network namespace", () => refuses('/proc/self/ns/net', /network namespace \/proc\/self\/ns\/net is runv's own: the VM would take the host's interfaces$/m));

    it('an interface that cannot be bridged, named with its kind', async () => {
      tun = new CniNetns('runvtest-net-tun');
      execFileSync('ip', ['-n', tun.name, 'tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
      execFileSync('ip', ['-n', tun.name, 'addr', 'add', '10.215.0.2/24', 'dev', 'tun0']);
      await refuses(tun.path, /interface tun0 is a tun link \(none\): only Ethernet interfaces can be connected to the VM$/m);
    });
  });
});
