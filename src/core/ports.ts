/**
 * Ports: the boundaries runv's services talk through, so each side can be swapped (another
 * libvirt binding, a fake in unit tests) without touching the services.
 */
export const Hypervisor = Symbol.for('runv.Hypervisor');

export type DomainState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'other';

/** A domain's resource use as libvirt sees it from outside the guest. */
export interface DomainStats {
  /** CPU time used by all vCPUs, in nanoseconds. */
  cpuTimeNs: number;
  /** Memory the guest has, in KiB. */
  memoryKiB: number;
  vcpus: number;
}

/** Who made a domain, as runv's metadata in it says: the container id, its bundle, runv's --root. */
export interface DomainOwner {
  id: string;
  bundle: string;
  root: string;
  /** A warm pool's VM (src/pool): `id` names the pool VM, not a container. */
  pool?: boolean;
}

export interface OwnedDomain {
  name: string;
  owner: DomainOwner;
  state: DomainState;
}

export interface Hypervisor {
  /** Starts a transient domain: it disappears from libvirt once destroyed or powered off. */
  createTransient(xml: string): Promise<void>;
  /** The state of a domain, or undefined when libvirt has no domain of that name. */
  stateOf(name: string): Promise<DomainState | undefined>;
  /** Stops a domain at once; a domain that is already gone is not an error. */
  destroy(name: string): Promise<void>;
  /** runv's metadata in a domain: undefined when there is no such domain or runv did not make it. */
  ownerOf(name: string): Promise<DomainOwner | undefined>;
  /** The domains carrying runv's metadata; every other domain is left out, unread beyond its XML. */
  listOwned(): Promise<OwnedDomain[]>;
  /** Stops the domain's vCPUs: nothing in the guest runs until resume. */
  suspend(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  stats(name: string): Promise<DomainStats | undefined>;
  close(): Promise<void>;
}
