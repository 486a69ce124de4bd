import assert from 'node:assert/strict';
import { StorageDriverName } from '../../../src/core/model';
import { DOMAIN_PREFIX, DomainType, sandboxToDomain } from '../../../src/hypervisor/domain-model';
import { defaultSpec } from '../../../src/oci/default-spec';
import { specToSandbox } from '../../../src/oci/to-sandbox';
import { POOL_DOMAIN_PREFIX, poolVmPaths, shapeOf } from '../../../src/pool/pool-layout';
import { ColdDomain, pooledContainer, pooledNetwork, whyNotPooled } from '../../../src/pool/pooled-container';
import { planStorage, StorageFacts } from '../../../src/storage/storage-plan';
import { Spec } from '../../support/busybox-bundle';

const TEMPLATE = "<domain type='qemu'/>";
const directory: StorageFacts = { rootfs: { kind: 'directory' }, directories: new Set(['/srv/dir']), shareDir: '/run/runv/shares/0123', hostView: '' };
const host = { kernel: '/img/vmlinux', initrd: '/img/initrd', consoleLog: '/state/c1/console.log', agentSocket: '/sock/c1.agent', interfaces: [], tscKhz: 2_000_000, root: '/run/runv' };

interface Options {
  edit?: (spec: Spec) => void;
  storage?: StorageDriverName;
  facts?: StorageFacts;
  type?: DomainType;
  links?: number;
}

function cold(id: string, { edit = () => undefined, storage = '9p', facts = directory, type = 'qemu', links = 0 }: Options = {}): ColdDomain {
  const spec = defaultSpec();
  edit(spec);
  const sandbox = specToSandbox(spec, { id, bundle: `/bundles/${id}`, defaultStorage: storage });
  const plan = planStorage(sandbox, facts);
  const model = sandboxToDomain(sandbox, plan, type, { ...host, consoleLog: `/state/${id}/console.log`, agentSocket: `/sock/${id}.agent` });
  const network = { links: Array.from({ length: links }, () => ({}) as never) } as unknown as ColdDomain['network'];
  return { model, storage: plan, network };
}

describe('warm pool', () => {
  describe('shape', () => {
    it('is the same for two containers that differ only in what is their own (id, bundle, process, paths)', () => {
      const a = cold('a', { edit: (s) => (s.process!.args = ['true']) });
      const b = cold('b', { edit: (s) => (s.hostname = 'other') });
      assert.equal(shapeOf(a.model, TEMPLATE), shapeOf(b.model, TEMPLATE));
    });

    it('differs with the VM size, the guest image, the driver or the template', () => {
      const base = cold('a').model;
      const shapes = [
        shapeOf(base, TEMPLATE),
        shapeOf(cold('a', { edit: (s) => (s.linux!.resources = { memory: { limit: 512 * 2 ** 20 } }) }).model, TEMPLATE),
        shapeOf(cold('a', { edit: (s) => (s.linux!.resources = { cpu: { quota: 200_000, period: 100_000 } }) }).model, TEMPLATE),
        shapeOf({ ...base, initrd: '/other/initrd' }, TEMPLATE),
        shapeOf(cold('a', { type: 'kvm' }).model, TEMPLATE),
        shapeOf(base, "<domain type='qemu'><cpu mode='host-model'/></domain>"),
      ];
      assert.equal(new Set(shapes).size, shapes.length);
    });
  });

  describe('which containers a pool VM can take', () => {
    it('a 9p rootfs on a QEMU VM with at most one network interface, bind mounts included', () => {
      const c = cold('a', { edit: (s) => s.mounts!.push({ destination: '/d', type: 'bind', source: '/srv/dir', options: ['rbind'] }) });
      assert.equal(whyNotPooled(c), undefined);
      assert.equal(whyNotPooled({ ...c, network: cold('a', { links: 1 }).network }), undefined);
    });

    it('not one that needs devices a booted VM lacks, another driver, or a rootfs QEMU cannot see', () => {
      const reasons = [
        cold('a', { storage: 'virtiofs' }),
        cold('a', { storage: 'block', facts: { ...directory, rootfs: { kind: 'file', format: 'raw', filesystem: 'ext4' } } }),
        cold('a', { links: 2 }),
        cold('a', { type: 'xen' }),
        cold('a', { facts: { ...directory, hostView: '/proc/42/root' } }),
      ].map((c) => whyNotPooled(c));
      assert.deepEqual(reasons, ['storage driver virtiofs', 'storage driver block', '2 network interfaces: a pool VM has 1', 'the xen driver has no pool', "a rootfs in runv's private mount namespace"]);
    });
  });

  it("gives guest-init the rootfs and bind sources as directories inside the pool's one share", () => {
    const c = cold('a', {
      edit: (s) => {
        s.root = { path: 'rootfs', readonly: true };
        s.mounts!.push({ destination: '/d', type: 'bind', source: '/srv/dir', options: ['rbind'] });
      },
    });
    const pooled = pooledContainer(c.storage.container);
    assert.deepEqual(pooled.rootfs, { source: 'pool/rootfs', fstype: '', options: '', readonly: true });
    assert.deepEqual(pooled.shares, [{ name: 'pool', source: 'pool', fstype: '9p', options: c.storage.container.rootfs.options }]);
    assert.deepEqual(pooled.mounts.filter((m) => m.type === 'bind').map((m) => m.source), ['pool/mounts/0']);
    assert.deepEqual(pooled.mounts.filter((m) => m.type !== 'bind'), c.storage.container.mounts.filter((m) => m.type !== 'bind'));
  });

  it("hands the container's interfaces the pool VM's taps, the guest NIC found by its boot MAC", () => {
    const link = { name: 'eth0', mac: '0a:58:0a:00:00:05', mtu: 1500, addresses: ['10.0.0.5/24'], routes: [], tap: 'rvc1t0' };
    const network = pooledNetwork({ netns: '/run/netns/n', links: [link], tapPrefix: 'rvc1t' }, [{ tap: 'rp0123t0', mac: '52:54:00:aa:bb:cc' }], 'rp0123t');
    assert.deepEqual(network, { netns: '/run/netns/n', tapPrefix: 'rp0123t', links: [{ ...link, tap: 'rp0123t0', bootMac: '52:54:00:aa:bb:cc' }] });
  });

  it('names pool domains so that no container id can name one', () => {
    const domain = poolVmPaths({ root: '/run/runv', socketDir: '/run/runv/sock' }, 'pool-0123456789ab').domain;
    assert.equal(domain, 'runv.pool-0123456789ab');
    assert.ok(domain.startsWith(POOL_DOMAIN_PREFIX) && !domain.startsWith(DOMAIN_PREFIX));
  });
});
