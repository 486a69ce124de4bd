import { Builder, parseStringPromise } from 'xml2js';
import { RunvError } from '../core/errors';
import { AGENT_PORT_NAME } from '../agent/protocol';
import { DomainInterface, DomainModel, DomainOwner, LxcDomainModel, METADATA_NAMESPACE } from './domain-model';
import { VmDisk, VmShare, VmTuning } from '../core/model';

const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';
/** Xen's first console is the kernel's; channels follow it as hvc1, hvc2, ... (hvc_xen). */
const XEN_AGENT_CONSOLE = 'hvc1';

/** An element as xml2js represents it: attributes under `$`, text under `_`, children as arrays. */
export type XmlNode = { $?: Record<string, string>; _?: string; [child: string]: unknown };

/**
 * Merges the container's parts into an operator-owned template. Pure apart from xml2js: the
 * template text comes in, the domain XML goes out, nothing is built by concatenating strings.
 */
export async function buildDomainXml(template: string, templateFile: string, model: DomainModel): Promise<string> {
  const domain = await parseTemplate(template, templateFile);
  const xen = model.type === 'xen';
  setIdentity(domain, model.type, model.name, model.metadata, model.memoryMiB, model.vcpus);
  const os = firstChild(domain, 'os');
  const microvm = firstChild(os, 'type').$?.machine === 'microvm';
  if (microvm) refuseOnMicrovm(model.tuning, templateFile);
  domain.os = [{ ...os, kernel: [model.kernel], initrd: [model.initrd], cmdline: [cmdlineFor(model, microvm)] }];
  const devices = firstChild(domain, 'devices');
  domain.devices = [devices];
  const placed = (node: XmlNode): XmlNode => (microvm ? withMmioAddress(node) : node);
  appendTo(devices, 'disk', ...model.disks.map((disk) => placed(diskOf(disk, xen, model.tuning.iotune))));
  appendTo(devices, 'filesystem', ...model.shares.map((share) => placed(shareOf(share, xen))));
  appendTo(devices, 'channel', agentChannel(model.agentSocket, xen));
  appendConsole(devices, model.consoleLog, xen);
  appendTo(
    devices,
    'interface',
    ...model.interfaces.map((nic) => placed(interfaceOf(nic))),
    ...model.tuning.vhostUser.map((socket) => placed(vhostUserOf(socket))),
    ...model.tuning.sriov.map(sriovOf),
  );
  applyTuning(domain, model.tuning);
  if (model.shares.some((share) => share.driver === 'virtiofs') || model.tuning.vhostUser.length > 0) shareGuestMemory(domain, microvm && model.shares.some((s) => s.driver === 'virtiofs'));
  if (!xen && !domain.seclabel) domain.seclabel = [runAsRoot()];
  return render(domain);
}

/** An LXC domain: the rootfs as `/`, binds as more filesystems, the container's process as init. */
export async function buildLxcDomainXml(template: string, templateFile: string, model: LxcDomainModel): Promise<string> {
  const domain = await parseTemplate(template, templateFile);
  setIdentity(domain, 'lxc', model.name, model.metadata, model.memoryMiB, model.vcpus);
  const os = firstChild(domain, 'os');
  const [init, ...initargs] = model.init.args;
  domain.os = [
    {
      ...os,
      init: [init],
      initarg: initargs,
      initenv: model.init.env.map(envOf),
      // "/" is libvirt's default, and its schema wants a file name in the element.
      ...(model.init.cwd === '/' ? {} : { initdir: [model.init.cwd] }),
      inituser: [String(model.init.uid)],
      initgroup: [String(model.init.gid)],
    },
  ];
  const devices = firstChild(domain, 'devices');
  domain.devices = [devices];
  const mount = (source: string, target: string, readonly: boolean): XmlNode => ({ $: { type: 'mount' }, source: [{ $: { dir: source } }], target: [{ $: { dir: target } }], ...(readonly ? { readonly: [''] } : {}) });
  appendTo(devices, 'filesystem', mount(model.rootfs, '/', model.readonlyRoot), ...model.binds.map((b) => mount(b.source, b.target, b.readonly)));
  if (!devices.console) devices.console = [{ $: { type: 'pty' } }];
  applyTuning(domain, model.tuning);
  return render(domain);
}

/** Reads runv's metadata back from a domain's XML: undefined for a domain runv did not make. */
export async function ownerOf(xml: string): Promise<DomainOwner | undefined> {
  const parsed = (await parseStringPromise(xml).catch(() => undefined)) as { domain?: XmlNode } | undefined;
  const container = firstChild(firstChild(parsed?.domain ?? {}, 'metadata'), 'runv:container');
  if (container.$?.['xmlns:runv'] !== METADATA_NAMESPACE) return undefined;
  const text = (name: string): string | undefined => {
    const value = (container[`runv:${name}`] as unknown[] | undefined)?.[0];
    return typeof value === 'string' ? value : undefined;
  };
  const [id, bundle, root] = [text('id'), text('bundle'), text('root')];
  if (!id || !bundle || !root) return undefined;
  return text('pool') === 'true' ? { id, bundle, root, pool: true } : { id, bundle, root };
}

async function parseTemplate(template: string, templateFile: string): Promise<XmlNode> {
  let parsed: { domain?: XmlNode } | null;
  try {
    parsed = await parseStringPromise(template);
  } catch (error) {
    throw new RunvError('invalid-argument', `template ${templateFile}: ${oneLine((error as Error).message)}`);
  }
  if (!parsed || typeof parsed.domain !== 'object') throw new RunvError('invalid-argument', `template ${templateFile}: the root element must be <domain>`);
  return parsed.domain;
}

/** What every driver's domain takes from runv: type, name, owner, size. */
function setIdentity(domain: XmlNode, type: string, name: string, owner: DomainOwner, memoryMiB: number, vcpus: number): void {
  domain.$ = { ...domain.$, type };
  domain.name = [name];
  domain.metadata = [{ ...firstChild(domain, 'metadata'), 'runv:container': [metadataOf(owner)] }];
  domain.memory = [{ $: { unit: 'MiB' }, _: String(memoryMiB) }];
  delete domain.currentMemory;
  domain.vcpu = [{ $: { ...firstChild(domain, 'vcpu').$, placement: 'static' }, _: String(vcpus) }];
}

function render(domain: XmlNode): string {
  return new Builder({ headless: true, renderOpts: { pretty: true, indent: '  ', newline: '\n' } }).buildObject({ domain }) + '\n';
}

function firstChild(node: XmlNode, name: string): XmlNode {
  const children = node[name];
  if (!Array.isArray(children) || children.length === 0) return {};
  return typeof children[0] === 'object' ? (children[0] as XmlNode) : {};
}

function appendTo(parent: XmlNode, name: string, ...nodes: XmlNode[]): void {
  if (nodes.length === 0) return;
  const existing = Array.isArray(parent[name]) ? (parent[name] as XmlNode[]) : [];
  parent[name] = [...existing, ...nodes];
}

function metadataOf(owner: DomainOwner): XmlNode {
  return { $: { 'xmlns:runv': METADATA_NAMESPACE }, 'runv:id': [owner.id], 'runv:bundle': [owner.bundle], 'runv:root': [owner.root], ...(owner.pool ? { 'runv:pool': ['true'] } : {}) };
}

/**
 * microvm cannot calibrate the TSC early (1-2 boots in 5 hang without the rate). A Xen guest's
 * console is hvc0, and guest-init finds its channel by the name given here (no virtio-ports).
 */
function cmdlineFor(model: DomainModel, microvm: boolean): string {
  if (model.type === 'xen') return `${model.cmdline.replace('console=ttyS0', 'console=hvc0')} runv.agent=${XEN_AGENT_CONSOLE}`;
  return microvm && model.tscKhz ? `${model.cmdline} tsc_early_khz=${model.tscKhz}` : model.cmdline;
}

function agentChannel(socket: string, xen: boolean): XmlNode {
  return { $: { type: 'unix' }, source: [{ $: { mode: 'bind', path: socket } }], target: [{ $: { type: xen ? 'xen' : 'virtio', name: AGENT_PORT_NAME } }] };
}

/**
 * A pty, so `virsh console` attaches, with its output also logged to the state directory's file
 * (virtlogd writes it), which `runv console` and boot-failure messages read.
 */
function appendConsole(devices: XmlNode, consoleLog: string, xen: boolean): void {
  const log = [{ $: { file: consoleLog, append: 'off' } }];
  if (xen) {
    appendTo(devices, 'console', { $: { type: 'pty' }, log, target: [{ $: { type: 'xen', port: '0' } }] });
    return;
  }
  appendTo(devices, 'serial', { $: { type: 'pty' }, log, target: [{ $: { port: '0' } }] });
  appendTo(devices, 'console', { $: { type: 'pty' }, target: [{ $: { type: 'serial', port: '0' } }] });
}

/**
 * A 9p share remaps inode numbers: bind mounts under it are other devices, whose inodes could
 * collide. virtiofsd passes xattrs through only when asked.
 */
function shareOf(share: VmShare, xen: boolean): XmlNode {
  const node: XmlNode =
    share.driver === 'virtiofs'
      ? { $: { type: 'mount', accessmode: 'passthrough' }, driver: [{ $: { type: 'virtiofs' } }], binary: [{ $: { xattr: 'on' } }] }
      : { $: { type: 'mount', accessmode: 'passthrough', ...(xen ? {} : { multidevs: 'remap' }) } };
  node.source = [{ $: { dir: share.source } }];
  node.target = [{ $: { dir: share.tag } }];
  return node;
}

function diskOf(disk: VmDisk, xen: boolean, iotune: VmTuning['iotune']): XmlNode {
  const node: XmlNode = {
    $: { type: disk.kind, device: 'disk' },
    driver: [{ $: { name: 'qemu', type: disk.format } }],
    source: [{ $: disk.kind === 'file' ? { file: disk.source } : { dev: disk.source } }],
    target: [{ $: { dev: disk.target, bus: xen ? 'xen' : 'virtio' } }],
  };
  if (Object.keys(iotune).length > 0) node.iotune = [Object.fromEntries(Object.entries(iotune).map(([key, value]) => [key, [String(value)]]))];
  return node;
}

/** An existing tap libvirt opens but does not manage: runv made it and moves it after the start. */
function interfaceOf(nic: DomainInterface): XmlNode {
  return { $: { type: 'ethernet' }, mac: [{ $: { address: nic.mac } }], target: [{ $: { dev: nic.tap, managed: 'no' } }], model: [{ $: { type: 'virtio' } }] };
}

/** On microvm (no PCI bus) a virtio device needs an explicit virtio-mmio address. */
function withMmioAddress(node: XmlNode): XmlNode {
  return { ...node, address: [{ $: { type: 'virtio-mmio' } }] };
}

function vhostUserOf(socket: string): XmlNode {
  return { $: { type: 'vhostuser' }, source: [{ $: { type: 'unix', path: socket, mode: 'client' } }], model: [{ $: { type: 'virtio' } }] };
}

/** An SR-IOV virtual function, given to the guest whole; libvirt unbinds it from the host driver. */
function sriovOf(pci: string): XmlNode {
  const [domain, bus, slotFunction] = pci.split(':');
  const [slot, fn] = slotFunction.split('.');
  return { $: { type: 'hostdev', managed: 'yes' }, source: [{ address: [{ $: { type: 'pci', domain: `0x${domain}`, bus: `0x${bus}`, slot: `0x${slot}`, function: `0x${fn}` } }] }] };
}

/**
 * SR-IOV needs a PCI bus; QEMU's disk throttling looks the disk up by its PCI proxy's path
 * (verified: "Device '/machine/peripheral/virtio-disk0/virtio-backend' not found" on microvm).
 */
function refuseOnMicrovm(tuning: VmTuning, templateFile: string): void {
  const needsPci = [tuning.sriov.length > 0 && 'SR-IOV', Object.keys(tuning.iotune).length > 0 && 'disk QoS (iotune)'].filter(Boolean);
  if (needsPci.length > 0) throw new RunvError('invalid-argument', `template ${templateFile}: ${needsPci.join(' and ')} need a PCI machine, and microvm has none (use machine='pc' or 'q35')`);
}

/** Placement and QoS: merged into what the template already has, never replacing it. */
function applyTuning(domain: XmlNode, tuning: VmTuning): void {
  const cputune = firstChild(domain, 'cputune');
  appendTo(cputune, 'vcpupin', ...tuning.vcpuPins.map((pin) => ({ $: { vcpu: String(pin.vcpu), cpuset: pin.cpuset } })));
  if (tuning.emulatorPin) cputune.emulatorpin = [{ $: { cpuset: tuning.emulatorPin } }];
  if (Object.keys(cputune).length > 0) domain.cputune = [cputune];
  if (tuning.numa) domain.numatune = [{ ...firstChild(domain, 'numatune'), memory: [{ $: { mode: tuning.numa.mode, nodeset: tuning.numa.nodeset } }] }];
  if (tuning.partition) domain.resource = [{ ...firstChild(domain, 'resource'), partition: [tuning.partition] }];
  if (tuning.hugepages) {
    const page = tuning.hugepages.sizeKiB ? { page: [{ $: { size: String(tuning.hugepages.sizeKiB), unit: 'KiB' } }] } : {};
    domain.memoryBacking = [{ hugepages: [page], ...firstChild(domain, 'memoryBacking') }];
  }
  const bandwidth = bandwidthOf(tuning.bandwidth);
  if (!bandwidth) return;
  const interfaces = firstChild(domain, 'devices').interface;
  // vhost-user and VF traffic bypasses the host's tc: libvirt refuses bandwidth on them.
  for (const nic of Array.isArray(interfaces) ? (interfaces as XmlNode[]) : []) {
    if (!['vhostuser', 'hostdev'].includes(nic.$?.type ?? '')) nic.bandwidth = [bandwidth];
  }
}

function bandwidthOf(bandwidth: VmTuning['bandwidth']): XmlNode | undefined {
  const node: XmlNode = {};
  for (const direction of ['inbound', 'outbound'] as const) {
    const limits = bandwidth[direction];
    if (limits) node[direction] = [{ $: Object.fromEntries(Object.entries(limits).map(([key, value]) => [key, String(value)])) }];
  }
  return Object.keys(node).length > 0 ? node : undefined;
}

function envOf(entry: string): XmlNode {
  const equals = entry.indexOf('=');
  return equals < 0 ? { $: { name: entry }, _: '' } : { $: { name: entry.slice(0, equals) }, _: entry.slice(equals + 1) };
}

/**
 * virtiofsd and vhost-user backends reach the guest's memory directly: it must be shareable.
 * On microvm, QEMU's virtio-mmio devices default to the legacy interface, on which virtiofsd
 * panics; libvirt has no element for that, hence QEMU's own argument.
 */
function shareGuestMemory(domain: XmlNode, modernMmio: boolean): void {
  const backing = firstChild(domain, 'memoryBacking');
  domain.memoryBacking = [{ ...backing, source: [{ $: { type: 'memfd' } }], access: [{ $: { mode: 'shared' } }] }];
  if (!modernMmio) return;
  domain.$ = { ...domain.$, 'xmlns:qemu': QEMU_NAMESPACE };
  domain['qemu:commandline'] = [{ 'qemu:arg': [{ $: { value: '-global' } }, { $: { value: 'virtio-mmio.force-legacy=false' } }] }];
}

/**
 * Debian's libvirt runs QEMU as libvirt-qemu, which can neither read a bundle's root-only files
 * nor keep their ownership through a 9p passthrough share. This label runs this domain's QEMU
 * as root without touching the host's qemu.conf; the VM is the isolation boundary.
 */
function runAsRoot(): XmlNode {
  return { $: { type: 'static', model: 'dac', relabel: 'no' }, label: ['+0:+0'] };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
