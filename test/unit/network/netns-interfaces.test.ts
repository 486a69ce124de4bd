import assert from 'node:assert/strict';
import { RunvError } from '../../../src/core/errors';
import { IpAddresses, IpLink, NetnsListing, guestInterfaces } from '../../../src/network/netns-interfaces';

const NETNS = '/run/netns/test';
const veth = (ifname: string, address: string, mtu = 1500): IpLink => ({ ifname, address, mtu, link_type: 'ether', linkinfo: { info_kind: 'veth' } });
const lo: IpLink = { ifname: 'lo', address: '00:00:00:00:00:00', mtu: 65536, link_type: 'loopback' };
const addrs = (ifname: string, ...info: [string, string, number, string][]): IpAddresses => ({
  ifname,
  addr_info: info.map(([family, local, prefixlen, scope]) => ({ family, local, prefixlen, scope })),
});
const loAddrs = addrs('lo', ['inet', '127.0.0.1', 8, 'host'], ['inet6', '::1', 128, 'host']);

function listing(parts: Partial<NetnsListing>): NetnsListing {
  return { links: [], addresses: [], routes4: [], routes6: [], ...parts };
}

describe('interfaces of a network namespace', () => {
  it("carries a CNI bridge veth: MAC, MTU, global IPv4 and IPv6 addresses, and its default route; not the kernel's own routes or link-local address", () => {
    const found = guestInterfaces(NETNS, listing({
      links: [lo, veth('eth0', '62:33:a4:81:9c:ed', 1400)],
      addresses: [loAddrs, addrs('eth0', ['inet', '10.213.0.2', 24, 'global'], ['inet6', 'fd13:213::2', 64, 'global'], ['inet6', 'fe80::6033:a4ff:fe81:9ced', 64, 'link'])],
      routes4: [{ dst: 'default', gateway: '10.213.0.1', dev: 'eth0' }, { dst: '10.213.0.0/24', dev: 'eth0', protocol: 'kernel' }],
      routes6: [{ dst: 'fd13:213::/64', dev: 'eth0', protocol: 'kernel' }, { dst: 'fe80::/64', dev: 'eth0', protocol: 'kernel' }, { dst: 'default', gateway: 'fd13:213::1', dev: 'eth0', protocol: 'ra' }],
    }));
    assert.deepEqual(found, [{
      name: 'eth0',
      mac: '62:33:a4:81:9c:ed',
      mtu: 1400,
      addresses: ['10.213.0.2/24', 'fd13:213::2/64'],
      routes: [{ destination: '0.0.0.0/0', gateway: '10.213.0.1' }, { destination: '::/0', gateway: 'fd13:213::1' }],
    }]);
  });

  it("puts routes on the link before the gateway routes that may need them (CNI's ptp)", () => {
    const [eth0] = guestInterfaces(NETNS, listing({
      links: [veth('eth0', '02:00:00:00:00:01')],
      addresses: [addrs('eth0', ['inet', '10.1.1.2', 32, 'global'])],
      routes4: [{ dst: 'default', gateway: '10.1.1.1', dev: 'eth0' }, { dst: '10.1.1.0/24', gateway: '10.1.1.1', dev: 'eth0' }, { dst: '10.1.1.1', dev: 'eth0' }],
    }));
    assert.deepEqual(eth0.routes, [{ destination: '10.1.1.1' }, { destination: '0.0.0.0/0', gateway: '10.1.1.1' }, { destination: '10.1.1.0/24', gateway: '10.1.1.1' }]);
  });

  it('gives each interface its own routes, and skips interfaces without an address to carry and unreachable routes', () => {
    const found = guestInterfaces(NETNS, listing({
      links: [veth('eth0', '02:00:00:00:00:01'), veth('eth1', '02:00:00:00:00:02', 9000), veth('idle', '02:00:00:00:00:03')],
      addresses: [addrs('eth0', ['inet', '10.0.0.2', 24, 'global']), addrs('eth1', ['inet', '10.0.1.2', 24, 'global']), addrs('idle', ['inet6', 'fe80::1', 64, 'link'])],
      routes4: [{ dst: 'default', gateway: '10.0.0.1', dev: 'eth0' }, { dst: '10.9.0.0/16', gateway: '10.0.1.1', dev: 'eth1' }, { dst: '10.66.0.0/16', type: 'unreachable' }],
    }));
    assert.deepEqual(found.map((i) => [i.name, i.mtu, i.routes]), [
      ['eth0', 1500, [{ destination: '0.0.0.0/0', gateway: '10.0.0.1' }]],
      ['eth1', 9000, [{ destination: '10.9.0.0/16', gateway: '10.0.1.1' }]],
    ]);
  });

  it('has nothing to carry in a netns with loopback only', () => {
    assert.deepEqual(guestInterfaces(NETNS, listing({ links: [lo], addresses: [loAddrs] })), []);
  });

  it('refuses an interface that is not Ethernet, naming it, its kind and the netns', () => {
    const wg: IpLink = { ifname: 'wg0', mtu: 1420, link_type: 'none', linkinfo: { info_kind: 'wireguard' } };
    assert.throws(
      () => guestInterfaces(NETNS, listing({ links: [wg], addresses: [addrs('wg0', ['inet', '10.7.0.2', 24, 'global'])] })),
      (error: RunvError) => error.code === 'invalid-argument' && error.message === `network namespace ${NETNS}: interface wg0 is a wireguard link (none): only Ethernet interfaces can be connected to the VM`,
    );
  });
});
