import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { AgentError } from '../../src/agent/agent-client';
import { Errno } from '../../src/agent/protocol';
import { GuestInterface } from '../../src/core/model';
import { GUEST_INIT, GuestInit } from './harness';

/**
 * ADD_INTERFACE against real rtnetlink: guest-init runs standalone inside a test-made netns
 * (`ip netns exec` also gives it that netns's /sys/class/net), on veth links with known MACs.
 */
const NETNS = `runvtest-gi-${process.pid}`;
const MAC_A = '02:00:5e:10:00:0a';
const MAC_B = '02:00:5e:10:00:0b';

const ip = <T>(...args: string[]): T => JSON.parse(execFileSync('ip', ['-n', NETNS, '-j', ...args], { encoding: 'utf8' }) || '[]') as T;
type Link = { ifname: string; address: string; mtu: number; flags: string[] };
type Addr = { ifname: string; addr_info: { local: string; prefixlen: number; scope: string }[] };
type Route = { dst: string; gateway?: string; dev: string };

function link(mac: string): Link {
  const found = ip<Link[]>('link', 'show').find((l) => l.address === mac);
  assert.ok(found, `no link with MAC ${mac}`);
  return found;
}

function iface(overrides: Partial<GuestInterface>): GuestInterface {
  return { name: 'eth0', mac: MAC_A, mtu: 1500, addresses: [], routes: [], ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  const error = await promise.then(() => assert.fail('expected an ERROR reply'), (e: unknown) => e);
  assert.ok(error instanceof AgentError, `expected an AgentError, got ${String(error)}`);
  return error;
}

describe('guest-init ADD_INTERFACE (standalone, in a test netns)', function () {
  let guest: GuestInit | undefined;

  beforeEach(async () => {
    execFileSync('ip', ['netns', 'add', NETNS]);
    // veth: the host kernel has no dummy links.
    execFileSync('ip', ['-n', NETNS, 'link', 'add', 'link0', 'address', MAC_A, 'type', 'veth', 'peer', 'name', 'peer0']);
    execFileSync('ip', ['-n', NETNS, 'link', 'add', 'link1', 'address', MAC_B, 'type', 'veth', 'peer', 'name', 'peer1']);
    guest = await GuestInit.start('standalone', GUEST_INIT, ['ip', 'netns', 'exec', NETNS]);
    await guest!.client.hello();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`guest-init log:\n${guest?.log}`);
    await guest?.stop();
    execFileSync('ip', ['netns', 'del', NETNS]);
  });

  it('finds the interface by MAC and gives it the name, MTU, IPv4 and IPv6 addresses and routes, up', async () => {
    await guest!.client.addInterface(iface({
      name: 'eth0',
      mac: MAC_B,
      mtu: 1400,
      addresses: ['10.213.9.2/24', 'fd13:9::2/64'],
      routes: [{ destination: '10.214.0.0/16' }, { destination: '0.0.0.0/0', gateway: '10.213.9.1' }, { destination: '::/0', gateway: 'fd13:9::1' }],
    }));
    const eth0 = link(MAC_B);
    assert.equal(eth0.ifname, 'eth0');
    assert.equal(eth0.mtu, 1400);
    assert.ok(eth0.flags.includes('UP'), `flags: ${eth0.flags}`);
    const addresses = ip<Addr[]>('addr', 'show', 'dev', 'eth0')[0].addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
    assert.deepEqual(addresses.sort(), ['10.213.9.2/24', 'fd13:9::2/64']);
    const routes = [...ip<Route[]>('-4', 'route', 'show'), ...ip<Route[]>('-6', 'route', 'show')].map((r) => `${r.dst} ${r.gateway ?? '-'} ${r.dev}`);
    for (const expected of ['default 10.213.9.1 eth0', '10.214.0.0/16 - eth0', 'default fd13:9::1 eth0']) assert.ok(routes.includes(expected), `${expected} not in ${JSON.stringify(routes)}`);
    assert.equal(link(MAC_A).ifname, 'link0', 'the other interface is left alone');
  });

  it("gives the interface found by its boot MAC the container's MAC (a warm pool VM's NIC)", async () => {
    const containerMac = '02:00:5e:10:00:c1';
    await guest!.client.addInterface(iface({ name: 'eth0', mac: containerMac, bootMac: MAC_B, addresses: ['10.213.9.2/24'] }));
    const eth0 = link(containerMac);
    assert.equal(eth0.ifname, 'eth0');
    assert.ok(eth0.flags.includes('UP'), `flags: ${eth0.flags}`);
    assert.equal(ip<Link[]>('link', 'show').some((l) => l.address === MAC_B), false, 'the boot MAC is gone');
  });

  it('keeps a default route per interface, as a netns with two networks has, and takes the same route twice', async () => {
    const eth0 = iface({ name: 'eth0', mac: MAC_A, addresses: ['10.213.9.2/24'], routes: [{ destination: '0.0.0.0/0', gateway: '10.213.9.1' }] });
    await guest!.client.addInterface(eth0);
    await guest!.client.addInterface(iface({ name: 'eth1', mac: MAC_B, addresses: ['10.214.9.2/24'], routes: [{ destination: '0.0.0.0/0', gateway: '10.214.9.1' }] }));
    await guest!.client.addInterface(eth0);
    const defaults = ip<Route[]>('-4', 'route', 'show', 'default').map((r) => `${r.gateway} ${r.dev}`);
    assert.deepEqual(defaults.sort(), ['10.213.9.1 eth0', '10.214.9.1 eth1']);
  });

  it('takes a name another interface holds by moving that one aside (guest names follow probe order)', async () => {
    await guest!.client.addInterface(iface({ name: 'link1', mac: MAC_A }));
    assert.equal(link(MAC_A).ifname, 'link1');
    assert.notEqual(link(MAC_B).ifname, 'link1');
    await guest!.client.addInterface(iface({ name: 'link0', mac: MAC_B }));
    assert.equal(link(MAC_B).ifname, 'link0');
  });

  it('answers a MAC no interface has with ENODEV naming the MAC', async () => {
    const error = await rejection(guest!.client.addInterface(iface({ mac: '02:00:5e:10:00:ff' })));
    assert.equal(error.errno, Errno.ENODEV);
    assert.match(error.message, /no interface has MAC 02:00:5e:10:00:ff/);
  });

  it('answers a malformed ADDRESS with EINVAL before changing anything', async () => {
    const error = await rejection(guest!.client.addInterface(iface({ name: 'eth9', addresses: ['10.213.9.300/24'] })));
    assert.equal(error.errno, Errno.EINVAL);
    assert.match(error.message, /bad ADDRESS 10\.213\.9\.300\/24/);
    assert.equal(link(MAC_A).ifname, 'link0');
  });

  it('answers a gateway of the other family with EINVAL', async () => {
    const error = await rejection(guest!.client.addInterface(iface({ routes: [{ destination: '::/0', gateway: '10.0.0.1' }] })));
    assert.equal(error.errno, Errno.EINVAL);
    assert.match(error.message, /bad ROUTE_GATEWAY 10\.0\.0\.1 for ::\/0/);
  });

  it('reports the failing step and the kernel error: a gateway that is not on the link', async () => {
    const error = await rejection(guest!.client.addInterface(iface({ addresses: ['10.213.9.2/24'], routes: [{ destination: '0.0.0.0/0', gateway: '10.99.0.1' }] })));
    assert.match(error.message, /add route to 0\.0\.0\.0\/0: Network is unreachable/);
  });
});
