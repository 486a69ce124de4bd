import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DomainModel, DomainType, HostParts, sandboxToDomain, sandboxToLxcDomain } from '../../../src/hypervisor/domain-model';
import { buildDomainXml, buildLxcDomainXml, ownerOf } from '../../../src/hypervisor/domain-xml';
import { specToSandbox } from '../../../src/oci/to-sandbox';
import { defaultSpec } from '../../../src/oci/default-spec';
import { RunvError } from '../../../src/core/errors';
import { StorageDriverName } from '../../../src/core/model';
import { onXen, planStorage, StorageFacts } from '../../../src/storage/storage-plan';
import { HOST_RESOURCE_ANNOTATIONS, TUNING_ANNOTATIONS as A } from '../../../src/oci/tuning';

const TEMPLATES_DIR = path.join(__dirname, '../../../templates');
const TEMPLATE_FILE = path.join(TEMPLATES_DIR, 'qemu.xml');
const GOLDEN_DIR = path.join(__dirname, '../../golden');
const template = fs.readFileSync(TEMPLATE_FILE, 'utf8');
const templateOf = (type: DomainType): string => fs.readFileSync(path.join(TEMPLATES_DIR, `${type}.xml`), 'utf8');
const pcTemplate = template.replace("machine='microvm'", "machine='pc'").replace(/<controller type='virtio-serial'[\s\S]*?<\/controller>/, '');
const hostParts: HostParts = { kernel: '/var/lib/runv/images/k1/vmlinux', initrd: '/var/lib/runv/images/k1/initrd.img', consoleLog: '/run/runv/demo/console.log', agentSocket: '/run/runv/sock/0123456789abcdef.agent', interfaces: [], tscKhz: 2600000, root: '/run/runv' };

const directoryRootfs: StorageFacts = { rootfs: { kind: 'directory' }, directories: new Set(['/srv/data']), shareDir: '/run/runv/shares/0123456789abcdef', hostView: '' };
const qcow2Rootfs: StorageFacts = { ...directoryRootfs, rootfs: { kind: 'file', format: 'qcow2', filesystem: 'ext4' } };

type Edit = (spec: ReturnType<typeof defaultSpec>) => void;

function demoSandbox(edit: Edit, storage: StorageDriverName): ReturnType<typeof specToSandbox> {
  const spec = defaultSpec();
  edit(spec);
  return specToSandbox(spec, { id: 'demo', bundle: '/srv/bundles/demo', defaultStorage: storage, allowedAnnotations: HOST_RESOURCE_ANNOTATIONS });
}

function demoModel(type: DomainType, edit: Edit = () => undefined, storage: StorageDriverName = '9p', facts = directoryRootfs, host = hostParts): DomainModel {
  const sandbox = demoSandbox(edit, storage);
  const plan = planStorage(sandbox, facts);
  return sandboxToDomain(sandbox, type === 'xen' ? onXen(plan) : plan, type, host);
}

const twoTaps = [
  { tap: 'rv0123456789t0', mac: '02:42:0a:58:00:05' },
  { tap: 'rv0123456789t1', mac: '02:42:0a:59:00:05' },
];

const withTuning = (annotations: Record<string, string>): Edit => (spec) => {
  spec.annotations = { ...spec.annotations, ...annotations };
};

/** Every NFV knob at once; SR-IOV needs a PCI machine. */
const NFV = {
  [A.vcpuPin]: '0:1;1:0-1',
  [A.emulatorPin]: '0',
  [A.hugepages]: '2048',
  [A.numaNodeset]: '0',
  [A.numaMode]: 'preferred',
  [A.vhostUser]: '/run/vhu/port0.sock',
  [A.partition]: '/machine/tenant1',
  [A.iotune]: 'total_bytes_sec=10485760,total_iops_sec=500',
  [A.bandwidth]: 'inbound.average=1000,inbound.burst=2048,outbound.average=500',
};
const withNfv: Edit = (spec) => {
  withBind(spec);
  withTuning(NFV)(spec);
  spec.linux = { resources: { cpu: { quota: 200000, period: 100000 } } };
};
/** An operator's template with a network interface of its own, which bandwidth applies to. */
const nicTemplate = pcTemplate.replace("<memballoon model='none'/>", "<memballoon model='none'/><interface type='ethernet'><target dev='tap-op0' managed='no'/><model type='virtio'/></interface>");

const withBind = (spec: ReturnType<typeof defaultSpec>): void => {
  spec.mounts!.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] });
};

/** Compares with the golden file; UPDATE_GOLDEN=1 rewrites it on purpose, for review in the diff. */
function assertGolden(name: string, xml: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, xml);
  assert.equal(xml, fs.readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

function assertValidDomain(xml: string): void {
  assert.doesNotMatch(xml, /undefined/);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'runv-xml-')), 'domain.xml');
  fs.writeFileSync(file, xml);
  try {
    execFileSync('virt-xml-validate', [file, 'domain'], { stdio: 'pipe' });
  } catch (error) {
    assert.fail(`virt-xml-validate rejected the domain: ${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

describe('domain XML', () => {
  const cases: [string, DomainModel][] = [
    ['qemu-default.xml', demoModel('qemu')],
    ['kvm-default.xml', demoModel('kvm')],
    ['qemu-resources-rw.xml', demoModel('qemu', (spec) => {
      spec.root.readonly = false;
      spec.linux = { resources: { memory: { limit: 512 * 1024 * 1024 }, cpu: { quota: 150000, period: 100000 } } };
    })],
    ['qemu-virtiofs-bind.xml', demoModel('qemu', withBind, 'virtiofs')],
    ['qemu-block-qcow2-bind.xml', demoModel('qemu', withBind, 'block', qcow2Rootfs)],
    ['qemu-two-interfaces.xml', demoModel('qemu', () => undefined, '9p', directoryRootfs, { ...hostParts, interfaces: twoTaps })],
    ['xen-9p-bind.xml', demoModel('xen', withBind)],
    ['xen-block.xml', demoModel('xen', () => undefined, 'block', qcow2Rootfs)],
  ];

  for (const [golden, model] of cases) {
    it(`matches ${golden} and validates against libvirt's schema`, async () => {
      const xml = await buildDomainXml(templateOf(model.type), `${model.type}.xml`, model);
      assertGolden(golden, xml);
      assertValidDomain(xml);
    });
  }

  it("matches qemu-nfv-pc-sriov.xml (every knob, SR-IOV and bandwidth on the operator's NIC) and validates", async () => {
    const model = demoModel('qemu', (spec) => {
      withNfv(spec);
      withTuning({ [A.sriov]: '0000:03:10.1,0000:03:10.2' })(spec);
    });
    const xml = await buildDomainXml(nicTemplate, 'pc.xml', model);
    assertGolden('qemu-nfv-pc-sriov.xml', xml);
    assertValidDomain(xml);
  });

  for (const [golden, edit] of [
    ['lxc-default.xml', () => undefined],
    ['lxc-bind-ro-tuned.xml', (spec: ReturnType<typeof defaultSpec>) => {
      withBind(spec);
      spec.root.readonly = true;
      spec.process!.cwd = '/srv';
      withTuning({ [A.vcpuPin]: '0:1', [A.partition]: '/machine/tenant1', [A.numaNodeset]: '0' })(spec);
    }],
  ] as [string, Edit][]) {
    it(`matches ${golden} (LXC: no VM, guest-init as init, runv's directory bound in) and validates`, async () => {
      const xml = await buildLxcDomainXml(templateOf('lxc'), 'lxc.xml', sandboxToLxcDomain(demoSandbox(edit, '9p'), { root: '/run/runv', runvDir: '/run/runv/sock/0123456789abcdef.lxc', hostView: '' }));
      assertGolden(golden, xml);
      assertValidDomain(xml);
    });
  }

  it('matches qemu-nfv-pc-block.xml (every knob but SR-IOV, iotune on the rootfs disk) and validates', async () => {
    const xml = await buildDomainXml(pcTemplate, 'pc.xml', demoModel('qemu', withNfv, 'block', qcow2Rootfs));
    assertGolden('qemu-nfv-pc-block.xml', xml);
    assertValidDomain(xml);
  });

  it('refuses SR-IOV and disk QoS on microvm, which has no PCI bus', async () => {
    await assert.rejects(buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu', withTuning({ [A.sriov]: '0000:03:10.1' }))), /SR-IOV need a PCI machine/);
    await assert.rejects(buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu', withTuning({ [A.iotune]: 'total_iops_sec=5' }), 'block', qcow2Rootfs)), /disk QoS \(iotune\) need a PCI machine/);
  });

  it("merges the knobs into what the operator's template already has", async () => {
    const own = template.replace('<vcpu', "<cputune><shares>2048</shares></cputune><memoryBacking><nosharepages/></memoryBacking><vcpu");
    const xml = await buildDomainXml(own, 'own.xml', demoModel('qemu', withTuning({ [A.vcpuPin]: '0:1', [A.hugepages]: 'default' })));
    assert.match(xml, /<cputune>\s*<shares>2048<\/shares>\s*<vcpupin vcpu="0" cpuset="1"\/>/);
    assert.match(xml, /<memoryBacking>\s*<hugepages\/>\s*<nosharepages\/>/);
    assertValidDomain(xml);
  });

  it("reads runv's owner back from the domain's metadata, and nothing from a foreign domain", async () => {
    const xml = await buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu'));
    assert.deepEqual(await ownerOf(xml), { id: 'demo', bundle: '/srv/bundles/demo', root: '/run/runv' });
    assert.equal(await ownerOf("<domain type='qemu'><name>vm1</name><metadata><x:y xmlns:x='urn:other'/></metadata></domain>"), undefined);
    assert.equal(await ownerOf('not xml'), undefined);
  });

  it('marks a warm pool VM in its metadata, so that it is never taken for a container', async () => {
    const pool = { id: 'pool-0123456789ab', bundle: '/run/runv/.pool/pool-0123456789ab', root: '/run/runv', pool: true };
    const xml = await buildDomainXml(template, TEMPLATE_FILE, { ...demoModel('qemu'), metadata: pool });
    assert.deepEqual(await ownerOf(xml), pool);
    assertValidDomain(xml);
  });

  it('gives a Xen guest its console on hvc0 and names its agent channel on the command line', async () => {
    const xml = await buildDomainXml(templateOf('xen'), 'xen.xml', demoModel('xen', withBind));
    assert.match(xml, /console=hvc0 .*runv\.agent=hvc1<\/cmdline>/);
    assert.match(xml, /<target type="xen" name="io.runv.agent"\/>/);
    assert.doesNotMatch(xml, /virtio|seclabel|multidevs/);
  });

  it('refuses virtio-fs under Xen', () => {
    const sandbox = demoSandbox(() => undefined, 'virtiofs');
    assert.throws(() => onXen(planStorage(sandbox, directoryRootfs)), /virtiofs storage driver needs virtio/);
  });

  it('takes the domain type, memory and vcpus from the model', async () => {
    const xml = await buildDomainXml(template, TEMPLATE_FILE, { ...demoModel('kvm'), memoryMiB: 384, vcpus: 3 });
    assert.match(xml, /<domain type="kvm">/);
    assert.match(xml, /<memory unit="MiB">384<\/memory>/);
    assert.match(xml, /<vcpu placement="static">3<\/vcpu>/);
  });

  it("keeps an operator's own devices and features from the template", async () => {
    const custom = template.replace('<memballoon model=\'none\'/>', "<memballoon model='none'/><rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>").replace('<acpi/>', '<acpi/><apic/>');
    const xml = await buildDomainXml(custom, 'custom.xml', demoModel('qemu'));
    assert.match(xml, /<rng model="virtio">/);
    assert.match(xml, /<apic\/>/);
    assert.match(xml, /<channel type="unix">/);
  });

  it('puts virtio devices on virtio-mmio and passes the TSC rate on microvm, and leaves both to libvirt on pc', async () => {
    const microvm = await buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu'));
    assert.match(microvm, /<address type="virtio-mmio"\/>\s*<\/filesystem>/);
    const nics = await buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu', () => undefined, '9p', directoryRootfs, { ...hostParts, interfaces: twoTaps }));
    assert.equal(nics.match(/<address type="virtio-mmio"\/>\s*<\/interface>/g)?.length, 2);
    assert.match(microvm, /tsc_early_khz=2600000<\/cmdline>/);
    const pc = await buildDomainXml(pcTemplate, 'pc.xml', demoModel('qemu'));
    assert.doesNotMatch(pc, /virtio-mmio|tsc_early_khz/);
    assertValidDomain(pc);
  });

  it('shares memory with virtiofsd, and makes microvm devices modern for it, only when a share is virtio-fs', async () => {
    const virtiofs = await buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu', () => undefined, 'virtiofs'));
    assert.match(virtiofs, /<memoryBacking>\s*<source type="memfd"\/>\s*<access mode="shared"\/>/);
    assert.match(virtiofs, /<qemu:arg value="virtio-mmio.force-legacy=false"\/>/);
    const ninep = await buildDomainXml(template, TEMPLATE_FILE, demoModel('qemu'));
    assert.doesNotMatch(ninep, /memoryBacking|qemu:commandline/);
    const pc = await buildDomainXml(template.replace("machine='microvm'", "machine='pc'"), 'pc.xml', demoModel('qemu', () => undefined, 'virtiofs'));
    assert.match(pc, /<memoryBacking>/);
    assert.doesNotMatch(pc, /force-legacy/);
  });

  it('names the template file and the problem when the template is malformed', async () => {
    await assert.rejects(buildDomainXml('<domain><name>x</domain>', '/etc/runv/templates/qemu.xml', demoModel('qemu')), (e: RunvError) => e.code === 'invalid-argument' && e.message.startsWith('template /etc/runv/templates/qemu.xml: ') && !e.message.includes('\n'));
  });

  it('rejects a template whose root is not <domain>', async () => {
    await assert.rejects(buildDomainXml('<network/>', 't.xml', demoModel('qemu')), /root element must be <domain>/);
  });
});
