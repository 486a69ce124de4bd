import * as fs from 'node:fs';
import * as net from 'node:net';
import { DomainOwner, DomainState, DomainStats, Hypervisor, OwnedDomain } from '../../src/core/ports';
import { FakeGuest } from './fake-guest';
import { ownerOf } from '../../src/hypervisor/domain-xml';

interface FakeDomain {
  xml: string;
  state: DomainState;
  server?: net.Server;
}

/**
 * The Hypervisor port without libvirt: "starting" a domain binds its agent channel socket the
 * way QEMU does and answers on it with a FakeGuest (unless the guest is told to stay silent).
 * Like a transient libvirt domain, it is gone once its guest powers off.
 */
export class FakeHypervisor implements Hypervisor {
  readonly domains = new Map<string, FakeDomain>();
  readonly created: string[] = [];
  readonly destroyed: string[] = [];
  /** Every guest that answered, across domains, oldest first. */
  readonly guests: FakeGuest[] = [];
  failCreate: Error | undefined;
  failDestroy: Error | undefined;
  bootsSilently = false;
  ignoresSignals = false;
  unavailable: Error | undefined;

  async createTransient(xml: string): Promise<void> {
    this.check();
    if (this.failCreate) throw this.failCreate;
    const name = /<name>([^<]+)<\/name>/.exec(xml)![1];
    const socket = /<source mode="bind" path="([^"]+)"/.exec(xml)![1];
    const domain: FakeDomain = { xml, state: 'running' };
    this.domains.set(name, domain);
    this.created.push(name);
    domain.server = net.createServer((conn) => {
      if (!this.bootsSilently) this.guests.push(new FakeGuest(conn, { ignoresSignals: this.ignoresSignals, onPowerOff: () => this.powerOff(name) }));
    });
    await new Promise<void>((resolve) => domain.server!.listen(socket, resolve));
  }

  async stateOf(name: string): Promise<DomainState | undefined> {
    this.check();
    return this.domains.get(name)?.state;
  }

  async destroy(name: string): Promise<void> {
    this.check();
    if (this.failDestroy) throw this.failDestroy;
    this.destroyed.push(name);
    const domain = this.domains.get(name);
    this.domains.delete(name);
    if (domain?.server) {
      const address = domain.server.address() as string;
      domain.server.close();
      fs.rmSync(address, { force: true });
    }
  }

  async ownerOf(name: string): Promise<DomainOwner | undefined> {
    this.check();
    const xml = this.domains.get(name)?.xml;
    return xml ? ownerOf(xml) : undefined;
  }

  async listOwned(): Promise<OwnedDomain[]> {
    this.check();
    const owned: OwnedDomain[] = [];
    for (const [name, domain] of this.domains) {
      const owner = await ownerOf(domain.xml);
      if (owner) owned.push({ name, owner, state: domain.state });
    }
    return owned;
  }

  async suspend(name: string): Promise<void> {
    this.running(name).state = 'paused';
  }

  async resume(name: string): Promise<void> {
    this.running(name).state = 'running';
  }

  async stats(name: string): Promise<DomainStats | undefined> {
    this.check();
    return this.domains.has(name) ? { cpuTimeNs: 1_000_000, memoryKiB: 262_144, vcpus: 1 } : undefined;
  }

  async close(): Promise<void> {}

  private running(name: string): FakeDomain {
    this.check();
    const domain = this.domains.get(name);
    if (!domain) throw new Error(`no domain ${name}`);
    return domain;
  }

  /** What a transient domain does when its guest powers off: it is gone. */
  private powerOff(name: string): void {
    const domain = this.domains.get(name);
    this.domains.delete(name);
    domain?.server?.close();
  }

  private check(): void {
    if (this.unavailable) throw this.unavailable;
  }
}
