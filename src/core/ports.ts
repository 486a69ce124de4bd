/**
 * Ports: the boundaries runv's services talk through, so each side can be swapped (another
 * libvirt binding, a fake in unit tests) without touching the services.
 */
export const Hypervisor = Symbol.for('runv.Hypervisor');

export type DomainState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'other';

export interface Hypervisor {
  /** Starts a transient domain: it disappears from libvirt once destroyed or powered off. */
  createTransient(xml: string): Promise<void>;
  /** The state of a domain, or undefined when libvirt has no domain of that name. */
  stateOf(name: string): Promise<DomainState | undefined>;
  /** Stops a domain at once; a domain that is already gone is not an error. */
  destroy(name: string): Promise<void>;
  close(): Promise<void>;
}
