import { RunvError } from '../core/errors';
import { GuestInterface, GuestRoute } from '../core/model';

/** What `ip -j -d link show` reports of a link (the fields runv reads). */
export interface IpLink {
  ifname: string;
  address?: string;
  mtu: number;
  link_type: string;
  linkinfo?: { info_kind?: string };
}

/** What `ip -j addr show` reports of a link's addresses. */
export interface IpAddresses {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}

/** What `ip -j route show` reports of a route (`dst` is `default` or an address with or without a prefix). */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  type?: string;
}

export interface NetnsListing {
  links: IpLink[];
  addresses: IpAddresses[];
  routes4: IpRoute[];
  routes6: IpRoute[];
}

/** Link-local and host addresses are the kernel's own: every interface gets them anyway. */
const CARRIED_SCOPES = new Set(['global', 'site']);

/**
 * Pure: the interfaces of a netns the VM takes over, each with what the guest must configure.
 * An interface is taken when it has an address to carry; one that is not Ethernet cannot be
 * redirected to a tap, and says so.
 */
export function guestInterfaces(netns: string, listing: NetnsListing): GuestInterface[] {
  const taken = listing.addresses.filter((a) => a.ifname !== 'lo' && a.addr_info.some((i) => CARRIED_SCOPES.has(i.scope)));
  return taken.map(({ ifname, addr_info }) => {
    const link = listing.links.find((l) => l.ifname === ifname);
    if (!link) throw new RunvError('internal', `network namespace ${netns}: interface ${ifname} has addresses but is not listed`);
    if (link.link_type !== 'ether' || !link.address) {
      const kind = link.linkinfo?.info_kind ?? link.link_type;
      throw new RunvError('invalid-argument', `network namespace ${netns}: interface ${ifname} is a ${kind} link (${link.link_type}): only Ethernet interfaces can be connected to the VM`);
    }
    return {
      name: ifname,
      mac: link.address,
      mtu: link.mtu,
      addresses: addr_info.filter((i) => CARRIED_SCOPES.has(i.scope)).map((i) => `${i.local}/${i.prefixlen}`),
      routes: [...routesOf(listing.routes4, ifname, '0.0.0.0/0'), ...routesOf(listing.routes6, ifname, '::/0')],
    };
  });
}

/**
 * The kernel makes the prefix routes of an address itself; the others the guest must add, those
 * on the link first: a gateway may be reachable only through one (CNI's ptp plugin does that).
 */
function routesOf(routes: IpRoute[], dev: string, anywhere: string): GuestRoute[] {
  return routes
    .filter((r) => r.dev === dev && r.protocol !== 'kernel' && (r.type === undefined || r.type === 'unicast'))
    .map((r): GuestRoute => ({ destination: r.dst === 'default' ? anywhere : r.dst, ...(r.gateway ? { gateway: r.gateway } : {}) }))
    .sort((a, b) => Number(a.gateway !== undefined) - Number(b.gateway !== undefined));
}
