import { ContainerModel } from '../core/model';
import { DomainInterface, DomainModel, DomainType } from '../hypervisor/domain-model';
import { SandboxNetwork } from '../network/network-service';
import { StoragePlan } from '../storage/storage-plan';
import { POOL_NICS, POOL_ROOTFS_ENTRY, POOL_TAG } from './pool-layout';

/** What a container's own domain would have had, as the pool compares it. */
export interface ColdDomain {
  model: DomainModel;
  storage: StoragePlan;
  network: SandboxNetwork;
}

/**
 * Pure: why a booted pool VM cannot take this container, or undefined when it can. A pool VM
 * has one 9p share and POOL_NICS NICs, and QEMU must see the rootfs where runv sees it.
 */
export function whyNotPooled(cold: ColdDomain): string | undefined {
  const { model, storage, network } = cold;
  if (!poolDriver(model.type)) return `the ${model.type} driver has no pool`;
  if (storage.driver !== '9p') return `storage driver ${storage.driver}`;
  if (storage.disks.length > 0) return 'a disk';
  if (network.links.length > POOL_NICS) return `${network.links.length} network interfaces: a pool VM has ${POOL_NICS}`;
  if (storage.hostView) return "a rootfs in runv's private mount namespace";
  return undefined;
}

/** Pool VMs are QEMU's, with KVM or TCG. */
export function poolDriver(type: DomainType): boolean {
  return type === 'kvm' || type === 'qemu';
}

/**
 * The container as a pool VM's guest-init takes it: its rootfs and bind sources are
 * directories inside the pool share (`pool/rootfs`, `pool/mounts/<n>`), not shares of their own.
 */
export function pooledContainer(container: ContainerModel): ContainerModel {
  const { rootfs } = container;
  return {
    ...container,
    rootfs: { source: `${POOL_TAG}/${POOL_ROOTFS_ENTRY}`, fstype: '', options: '', readonly: rootfs.readonly },
    shares: [{ name: POOL_TAG, source: POOL_TAG, fstype: rootfs.fstype, options: rootfs.options }],
    mounts: container.mounts.map((mount) => (mount.type === 'bind' ? { ...mount, source: `${POOL_TAG}/${mount.source}` } : mount)),
  };
}

/**
 * The container's network on a pool VM: each of its interfaces takes one of the VM's NICs, whose
 * tap moves into the netns as the container's own would, and whose guest side takes its MAC.
 */
export function pooledNetwork(network: SandboxNetwork, nics: readonly DomainInterface[], tapPrefix: string): SandboxNetwork {
  return { ...network, tapPrefix, links: network.links.map((link, i) => ({ ...link, tap: nics[i].tap, bootMac: nics[i].mac })) };
}
