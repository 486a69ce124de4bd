import * as fs from 'node:fs';
import { inject, injectable } from 'inversify';
import { Logger } from '../core/logger';
import { GuestInterface, SandboxModel } from '../core/model';
import { CleanupStack } from '../runtime/cleanup-stack';
import { RuntimeConfig } from '../runtime/runtime-config';
import { sandboxPaths } from '../runtime/sandbox-paths';
import { batch, checkNetns, inNetns, listJson } from './netns';
import { IpAddresses, IpLink, IpRoute, guestInterfaces } from './netns-interfaces';

/** An interface of the container's netns and the tap that stands for it on the VM's side. */
export interface TapLink extends GuestInterface {
  tap: string;
}

export interface SandboxNetwork {
  /** The caller's netns; none: the VM has loopback only. */
  netns?: string;
  links: TapLink[];
  /** Every tap of the VM's is named with it (sandboxPaths' tapPrefix): removal finds them by it. */
  tapPrefix: string;
}

/**
 * The priority of runv's redirect filters: first, so that every frame reaches the VM whatever
 * filters the caller has (they stay, and apply to nothing while the VM runs). Removal finds
 * runv's filters by it and leaves the caller's.
 */
const REDIRECT_PREF = 1;
const INGRESS = 'ffff:';

interface TcQdisc {
  dev: string;
  kind: string;
}

/**
 * Connects the VM to the network the caller (podman, CNI) set up in a netns, as Kata does: a
 * tap per interface, all traffic redirected both ways between the interface and the tap by tc.
 * QEMU runs in runv's netns, where libvirt opens the tap by name; so the tap is made there and
 * moved into the container's netns once open (see docs/design.md, Networking).
 */
@injectable()
export class NetworkService {
  constructor(
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /** Reads the container's netns: which interfaces the VM gets. Creates nothing. */
  async plan(sandbox: SandboxModel): Promise<SandboxNetwork> {
    const netns = sandbox.networkNamespace;
    const tapPrefix = sandboxPaths(this.config, sandbox.id).tapPrefix;
    if (!netns) return { links: [], tapPrefix };
    await checkNetns(netns);
    const [links, addresses, routes4, routes6] = await Promise.all([
      listJson<IpLink>(netns, 'ip', ['-d', 'link', 'show']),
      listJson<IpAddresses>(netns, 'ip', ['addr', 'show']),
      listJson<IpRoute>(netns, 'ip', ['-4', 'route', 'show', 'table', 'main']),
      listJson<IpRoute>(netns, 'ip', ['-6', 'route', 'show', 'table', 'main']),
    ]);
    const interfaces = guestInterfaces(netns, { links, addresses, routes4, routes6 });
    return { netns, links: interfaces.map((iface, index) => ({ ...iface, tap: `${tapPrefix}${index}` })), tapPrefix };
  }

  /** Makes the taps in runv's netns, where libvirt opens them when QEMU starts. */
  createTaps(network: SandboxNetwork, cleanup: CleanupStack): Promise<void> {
    return this.makeTaps(network.tapPrefix, network.links.map((l) => l.tap), cleanup);
  }

  /** Taps by name, each starting with `prefix`; `cleanup` removes them. */
  async makeTaps(prefix: string, taps: readonly string[], cleanup: CleanupStack): Promise<void> {
    if (taps.length === 0) return;
    cleanup.push('remove the taps', () => this.remove(prefix, undefined));
    for (const tap of taps) await inNetns(undefined, ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  }

  /**
   * Once QEMU holds the taps open: moves each into the container's netns (an open tap keeps
   * working there) and redirects every frame both ways between it and the interface.
   */
  async connect(network: SandboxNetwork, cleanup: CleanupStack): Promise<void> {
    const { netns, links } = network;
    if (!netns || links.length === 0) return;
    cleanup.push('remove the network redirects', () => this.remove(network.tapPrefix, netns));
    await batch(undefined, 'ip', links.map((l) => `link set dev ${l.tap} netns ${netns}`));
    await batch(netns, 'ip', links.map((l) => `link set dev ${l.tap} mtu ${l.mtu} up`));
    const ingress = new Set((await listJson<TcQdisc>(netns, 'tc', ['qdisc', 'show'])).filter((q) => q.kind === 'ingress').map((q) => q.dev));
    const commands = links.flatMap((l) => [
      ...(ingress.has(l.name) ? [] : [`qdisc add dev ${l.name} ingress`]),
      `qdisc add dev ${l.tap} ingress`,
      redirect(l.name, l.tap),
      redirect(l.tap, l.name),
    ]);
    await batch(netns, 'tc', commands);
    this.log.debug('network', `connected ${links.map((l) => `${l.name}<->${l.tap}`).join(', ')} in ${netns}`);
  }

  /**
   * Removes whatever runv made for a VM and is left: its taps (named `prefix...`, with their
   * filters) in either netns, and its redirect filters on the caller's interfaces, with the
   * ingress qdisc when no filter of the caller's remains on it. The caller's links stay.
   */
  async remove(prefix: string, netns: string | undefined): Promise<void> {
    const ours = (links: IpLink[]): string[] => links.map((l) => l.ifname).filter((name) => name.startsWith(prefix));
    await deleteLinks(undefined, ours(await listJson<IpLink>(undefined, 'ip', ['link', 'show'])));
    if (!netns || !fs.existsSync(netns)) return;
    // Before the taps go: a redirect is known as ours by the tap it points at.
    for (const dev of (await listJson<TcQdisc>(netns, 'tc', ['qdisc', 'show'])).filter((q) => q.kind === 'ingress').map((q) => q.dev)) {
      if (!dev.startsWith(prefix)) await removeRedirect(netns, dev, prefix);
    }
    await deleteLinks(netns, ours(await listJson<IpLink>(netns, 'ip', ['link', 'show'])));
  }
}

function redirect(from: string, to: string): string {
  return `filter add dev ${from} parent ${INGRESS} pref ${REDIRECT_PREF} protocol all u32 match u32 0 0 action mirred egress redirect dev ${to}`;
}

interface TcFilter {
  pref: number;
  options?: { actions?: { kind: string; to_dev?: string }[] };
}

/** Takes the caller's interface back: runv's redirect to one of its taps, and the ingress qdisc once nothing else uses it. */
async function removeRedirect(netns: string, dev: string, tapPrefix: string): Promise<void> {
  const filters = await listJson<TcFilter>(netns, 'tc', ['filter', 'show', 'dev', dev, 'ingress']);
  const toOurTap = (f: TcFilter): boolean => f.pref === REDIRECT_PREF && (f.options?.actions ?? []).some((a) => a.kind === 'mirred' && a.to_dev?.startsWith(tapPrefix));
  if (!filters.some(toOurTap)) return;
  const rest = filters.filter((f) => f.pref !== REDIRECT_PREF);
  await batch(netns, 'tc', [`filter del dev ${dev} parent ${INGRESS} pref ${REDIRECT_PREF}`, ...(rest.length ? [] : [`qdisc del dev ${dev} ingress`])]);
}

async function deleteLinks(netns: string | undefined, names: string[]): Promise<void> {
  if (names.length) await batch(netns, 'ip', names.map((name) => `link del dev ${name}`));
}
