import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A bridge network of Debian's CNI plugins (bridge + host-local), as podman or ctr would set one up. */
export interface CniBridge {
  name: string;
  bridge: string;
  subnets: string[];
  mtu?: number;
}

/** A point-to-point network (ptp + host-local): a veth with its host end in the host's netns, no bridge. */
export interface CniPtp {
  name: string;
  ptp: true;
  subnets: string[];
}

export type CniNetwork = CniBridge | CniPtp;

export interface CniResult {
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string }[];
}

const CNI_PATH = '/usr/lib/cni';
/** host-local's allocations, one directory a network: the tests' own, away from any real CNI state. */
const IPAM_DIR = '/run/runvtest-cni';

function config(network: CniNetwork): string {
  const ipam = { type: 'host-local', ranges: network.subnets.map((subnet) => [{ subnet }]), routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(IPAM_DIR, network.name) };
  if ('ptp' in network) return JSON.stringify({ cniVersion: '1.0.0', name: network.name, type: 'ptp', ipMasq: false, ipam });
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: network.name,
    type: 'bridge',
    bridge: network.bridge,
    isGateway: true,
    ipMasq: false,
    ...(network.mtu ? { mtu: network.mtu } : {}),
    ipam,
  });
}

/**
 * The plugin makes a missing bridge, but then it has IPv6 only if the host's
 * net.ipv6.conf.default says so; the tests enable it on their own bridge, not host-wide.
 */
function ensureBridge(network: CniBridge): void {
  if (fs.existsSync(`/sys/class/net/${network.bridge}`)) return;
  execFileSync('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
  if (network.subnets.some((s) => s.includes(':'))) fs.writeFileSync(`/proc/sys/net/ipv6/conf/${network.bridge}/disable_ipv6`, '0');
}

/** A netns made with `ip netns add`, its interfaces added by the bridge plugin. */
export class CniNetns {
  readonly path: string;
  private readonly attached: { network: CniNetwork; ifname: string }[] = [];

  constructor(readonly name: string) {
    execFileSync('ip', ['netns', 'add', name]);
    this.path = `/run/netns/${name}`;
  }

  add(network: CniNetwork, ifname: string): CniResult {
    if (!('ptp' in network)) ensureBridge(network);
    const result = this.plugin('ADD', network, ifname);
    this.attached.push({ network, ifname });
    return JSON.parse(result) as CniResult;
  }

  /** The address (without prefix) of the given family that CNI gave the interface. */
  static address(result: CniResult, family: 4 | 6): string {
    const found = result.ips.find((ip) => ip.address.includes(':') === (family === 6));
    if (!found) throw new Error(`no IPv${family} address in ${JSON.stringify(result)}`);
    return found.address.split('/')[0];
  }

  remove(): void {
    for (const { network, ifname } of this.attached.splice(0)) this.plugin('DEL', network, ifname);
    execFileSync('ip', ['netns', 'del', this.name]);
  }

  /** Bridges stay after CNI DEL (the plugin never removes one); the tests that made them do. */
  static removeBridges(...networks: CniBridge[]): void {
    for (const { name, bridge } of networks) {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
      fs.rmSync(path.join(IPAM_DIR, name), { recursive: true, force: true });
    }
  }

  /** ptp's host-local allocations go with the netns: there is no bridge to remove. */
  static removeAllocations(network: CniPtp): void {
    fs.rmSync(path.join(IPAM_DIR, network.name), { recursive: true, force: true });
  }

  private plugin(command: 'ADD' | 'DEL', network: CniNetwork, ifname: string): string {
    return execFileSync(`${CNI_PATH}/${'ptp' in network ? 'ptp' : 'bridge'}`, [], {
      input: config(network),
      encoding: 'utf8',
      env: { ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: `${this.name}-${ifname}`, CNI_NETNS: this.path, CNI_IFNAME: ifname, CNI_PATH },
    });
  }
}
