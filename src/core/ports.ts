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

export interface Hypervisor {
  /** Starts a transient domain: it disappears from libvirt once destroyed or powered off. */
  createTransient(xml: string): Promise<void>;
  /** The state of a domain, or undefined when libvirt has no domain of that name. */
  stateOf(name: string): Promise<DomainState | undefined>;
  /** Stops a domain at once; a domain that is already gone is not an error. */
  destroy(name: string): Promise<void>;
  /** Stops the domain's vCPUs: nothing in the guest runs until resume. */
  suspend(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  stats(name: string): Promise<DomainStats | undefined>;
  close(): Promise<void>;
}
