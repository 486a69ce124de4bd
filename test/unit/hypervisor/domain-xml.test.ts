import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DomainModel, HostParts, sandboxToDomain } from '../../../src/hypervisor/domain-model';
import { buildDomainXml } from '../../../src/hypervisor/domain-xml';
import { specToSandbox } from '../../../src/oci/to-sandbox';
import { defaultSpec } from '../../../src/oci/default-spec';
import { RunvError } from '../../../src/core/errors';
import { StorageDriverName } from '../../../src/core/model';
import { planStorage, StorageFacts } from '../../../src/storage/storage-plan';

const TEMPLATE_FILE = path.join(__dirname, '../../../templates/qemu.xml');
const GOLDEN_DIR = path.join(__dirname, '../../golden');
const template = fs.readFileSync(TEMPLATE_FILE, 'utf8');
const hostParts: HostParts = { kernel: '/var/lib/runv/images/k1/vmlinux', initrd: '/var/lib/runv/images/k1/initrd.img', consoleLog: '/run/runv/demo/console.log', agentSocket: '/run/runv/sock/0123456789abcdef.agent', interfaces: [], tscKhz: 2600000 };

const directoryRootfs: StorageFacts = { rootfs: { kind: 'directory' }, directories: new Set(['/srv/data']), shareDir: '/run/runv/shares/0123456789abcdef', hostView: '' };
const qcow2Rootfs: StorageFacts = { ...directoryRootfs, rootfs: { kind: 'file', format: 'qcow2', filesystem: 'ext4' } };

function demoModel(type: 'kvm' | 'qemu', edit: (spec: ReturnType<typeof defaultSpec>) => void = () => undefined, storage: StorageDriverName = '9p', facts = directoryRootfs, host = hostParts): DomainModel {
  const spec = defaultSpec();
  edit(spec);
  const sandbox = specToSandbox(spec, { id: 'demo', bundle: '/srv/bundles/demo', defaultStorage: storage });
  return sandboxToDomain(sandbox, planStorage(sandbox, facts), type, host);
}

const withBind = (spec: ReturnType<typeof defaultSpec>): void => {
  spec.mounts!.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] });
};

const twoTaps = [
  { tap: 'rv0123456789t0', mac: '02:42:0a:58:00:05' },
  { tap: 'rv0123456789t1', mac: '02:42:0a:59:00:05' },
];

/** Compares with the golden file; UPDATE_GOLDEN=1 rewrites it on purpose, for review in the diff. */
function assertGolden(name: string, xml: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, xml);
  assert.equal(xml, fs.readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

function assertValidDomain(xml: string): void {
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
  ];

  for (const [golden, model] of cases) {
    it(`matches ${golden} and validates against libvirt's schema`, async () => {
      const xml = await buildDomainXml(template, TEMPLATE_FILE, model);
      assertGolden(golden, xml);
      assertValidDomain(xml);
    });
  }

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
    const pc = await buildDomainXml(template.replace("machine='microvm'", "machine='pc'").replace(/<controller type='virtio-serial'[\s\S]*?<\/controller>/, ''), 'pc.xml', demoModel('qemu'));
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
