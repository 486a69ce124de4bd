import { injectable } from 'inversify';
import { RunvError } from '../core/errors';
import { DomainOwner, DomainState, DomainStats, Hypervisor, OwnedDomain } from '../core/ports';
import { ownerOf } from './domain-xml';

type Binding = typeof import('@unraid/libvirt', { with: { 'resolution-mode': 'import' } });
type Connection = InstanceType<Binding['Hypervisor']>;
type Domain = InstanceType<Binding['Domain']>;

/** libvirt's virDomainState numbers, as virDomainGetInfo reports them. */
const STATES: Record<number, DomainState> = { 1: 'running', 2: 'other', 3: 'paused', 4: 'other', 5: 'shutoff', 6: 'crashed', 7: 'paused' };

/**
 * The Hypervisor port on @unraid/libvirt (N-API). The binding is an ES module with a native
 * part, loaded on first use so that commands which never touch libvirt start fast.
 */
@injectable()
export class LibvirtHypervisor implements Hypervisor {
  private connection: Promise<Connection> | undefined;

  constructor(
    private readonly uri: string,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  async createTransient(xml: string): Promise<void> {
    const conn = await this.connect();
    await conn.domainCreateXML(xml).catch((error: Error) => {
      throw new RunvError('unavailable', `libvirt could not start the domain: ${firstLine(error.message)}`, { cause: error });
    });
  }

  async stateOf(name: string): Promise<DomainState | undefined> {
    const conn = await this.connect();
    const domain = await conn.domainLookupByName(name).catch(ignoreNotFound);
    if (!domain) return undefined;
    const info = await conn.domainGetInfo(domain).catch(ignoreNotFound);
    return info ? (STATES[info.state] ?? 'other') : undefined;
  }

  async destroy(name: string): Promise<void> {
    const conn = await this.connect();
    const domain = await conn.domainLookupByName(name).catch(ignoreNotFound);
    if (domain) await conn.domainDestroy(domain).catch(ignoreNotFound);
  }

  async ownerOf(name: string): Promise<DomainOwner | undefined> {
    const conn = await this.connect();
    const domain = await conn.domainLookupByName(name).catch(ignoreNotFound);
    const xml = domain && (await conn.domainGetXMLDesc(domain).catch(ignoreNotFound));
    return xml ? ownerOf(xml) : undefined;
  }

  async listOwned(): Promise<OwnedDomain[]> {
    const conn = await this.connect();
    const owned: OwnedDomain[] = [];
    for (const domain of await conn.connectListAllDomains()) {
      // A domain may vanish between the listing and the reads: it is simply not listed.
      const xml = await conn.domainGetXMLDesc(domain).catch(ignoreNotFound);
      const owner = xml && (await ownerOf(xml));
      const info = owner && (await conn.domainGetInfo(domain).catch(ignoreNotFound));
      if (owner && info) owned.push({ name: await conn.domainGetName(domain), owner, state: STATES[info.state] ?? 'other' });
    }
    return owned;
  }

  async suspend(name: string): Promise<void> {
    const conn = await this.connect();
    await conn.domainSuspend(await this.lookup(conn, name)).catch(failed('suspend', name));
  }

  async resume(name: string): Promise<void> {
    const conn = await this.connect();
    await conn.domainResume(await this.lookup(conn, name)).catch(failed('resume', name));
  }

  async stats(name: string): Promise<DomainStats | undefined> {
    const conn = await this.connect();
    const domain = await conn.domainLookupByName(name).catch(ignoreNotFound);
    const info = domain && (await conn.domainGetInfo(domain).catch(ignoreNotFound));
    return info ? { cpuTimeNs: info.cpuTime, memoryKiB: info.memory, vcpus: info.nrVirtCpu } : undefined;
  }

  async close(): Promise<void> {
    const pending = this.connection;
    this.connection = undefined;
    if (pending) await (await pending.catch(() => undefined))?.connectClose().catch(() => undefined);
  }

  private async lookup(conn: Connection, name: string): Promise<Domain> {
    const domain = await conn.domainLookupByName(name).catch(ignoreNotFound);
    if (!domain) throw new RunvError('not-found', `libvirt has no domain ${name}`);
    return domain;
  }

  /**
   * One connection, reopened when libvirtd went away meanwhile (restarted while a shim holds it):
   * its domains and their QEMUs live on, and the new daemon knows them again.
   */
  private async connect(): Promise<Connection> {
    const pending = this.connection;
    if (pending && (await pending.then(isAlive, () => false))) return pending;
    if (pending) this.log('libvirt connection lost: reconnecting');
    this.connection = this.open();
    this.connection.catch(() => (this.connection = undefined));
    return this.connection;
  }

  private async open(): Promise<Connection> {
    const binding: Binding = await import('@unraid/libvirt');
    const conn = new binding.Hypervisor({ uri: this.uri });
    try {
      await conn.connectOpen();
    } catch (error) {
      throw new RunvError('unavailable', `cannot connect to libvirt at ${this.uri}: is libvirtd running? (start it with: virtlogd -d && libvirtd -d)`, { cause: error });
    }
    return conn;
  }
}

/** A cheap round trip: fails once the daemon's end of the socket closed (the binding has no virConnectIsAlive). */
async function isAlive(conn: Connection): Promise<boolean> {
  return conn.connectGetHostname().then(() => true, () => false);
}

/** libvirt reports a missing domain (or one that vanished meanwhile) as an error; here it is just absent. */
function ignoreNotFound(error: Error): undefined {
  if (/not found|no domain|domain is not running/i.test(error.message)) return undefined;
  throw new RunvError('unavailable', `libvirt: ${firstLine(error.message)}`, { cause: error });
}

function failed(action: string, name: string): (error: Error) => never {
  return (error) => {
    throw new RunvError('unavailable', `libvirt could not ${action} ${name}: ${firstLine(error.message)}`, { cause: error });
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}
