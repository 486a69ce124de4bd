import { Builder, parseStringPromise } from 'xml2js';
import { RunvError } from '../core/errors';
import { AGENT_PORT_NAME } from '../agent/protocol';
import { DomainInterface, DomainModel, METADATA_NAMESPACE } from './domain-model';
import { VmDisk, VmShare } from '../core/model';

const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';

/** An element as xml2js represents it: attributes under `$`, text under `_`, children as arrays. */
type XmlNode = { $?: Record<string, string>; _?: string; [child: string]: unknown };

/**
 * Merges the container's parts into an operator-owned template. Pure apart from xml2js: the
 * template text comes in, the domain XML goes out, nothing is built by concatenating strings.
 */
export async function buildDomainXml(template: string, templateFile: string, model: DomainModel): Promise<string> {
  const domain = await parseTemplate(template, templateFile);
  domain.$ = { ...domain.$, type: model.type };
  domain.name = [model.name];
  domain.metadata = [{ ...firstChild(domain, 'metadata'), 'runv:container': [metadataOf(model)] }];
  domain.memory = [{ $: { unit: 'MiB' }, _: String(model.memoryMiB) }];
  delete domain.currentMemory;
  domain.vcpu = [{ $: { ...firstChild(domain, 'vcpu').$, placement: 'static' }, _: String(model.vcpus) }];
  const os = firstChild(domain, 'os');
  const microvm = firstChild(os, 'type').$?.machine === 'microvm';
  domain.os = [{ ...os, kernel: [model.kernel], initrd: [model.initrd], cmdline: [cmdlineFor(model, microvm)] }];
  domain.devices = [appendDevices(firstChild(domain, 'devices'), model, microvm)];
  if (model.shares.some((share) => share.driver === 'virtiofs')) shareMemoryWithVirtiofsd(domain, microvm);
  if (!domain.seclabel) domain.seclabel = [runAsRoot()];
  return new Builder({ headless: true, renderOpts: { pretty: true, indent: '  ', newline: '\n' } }).buildObject({ domain }) + '\n';
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

function firstChild(node: XmlNode, name: string): XmlNode {
  const children = node[name];
  if (!Array.isArray(children) || children.length === 0) return {};
  return typeof children[0] === 'object' ? (children[0] as XmlNode) : {};
}

function metadataOf(model: DomainModel): XmlNode {
  return { $: { 'xmlns:runv': METADATA_NAMESPACE }, 'runv:id': [model.metadata.id], 'runv:bundle': [model.metadata.bundle] };
}

/** microvm cannot calibrate the TSC early (1-2 boots in 5 hang without the rate). */
function cmdlineFor(model: DomainModel, microvm: boolean): string {
  return microvm && model.tscKhz ? `${model.cmdline} tsc_early_khz=${model.tscKhz}` : model.cmdline;
}

function appendDevices(devices: XmlNode, model: DomainModel, microvm: boolean): XmlNode {
  const add = (name: string, ...nodes: XmlNode[]): void => {
    const existing = Array.isArray(devices[name]) ? (devices[name] as XmlNode[]) : [];
    devices[name] = [...existing, ...nodes];
  };
  add('disk', ...model.disks.map((disk) => diskOf(disk, microvm)));
  add('filesystem', ...model.shares.map((share) => shareOf(share, microvm)));
  add('interface', ...model.interfaces.map((nic) => interfaceOf(nic, microvm)));
  add('channel', {
    $: { type: 'unix' },
    source: [{ $: { mode: 'bind', path: model.agentSocket } }],
    target: [{ $: { type: 'virtio', name: AGENT_PORT_NAME } }],
  });
  add('serial', { $: { type: 'file' }, source: [{ $: { path: model.consoleLog } }], target: [{ $: { port: '0' } }] });
  add('console', { $: { type: 'file' }, source: [{ $: { path: model.consoleLog } }], target: [{ $: { type: 'serial', port: '0' } }] });
  return devices;
}

/**
 * On microvm (no PCI bus) a virtio device needs an explicit virtio-mmio address. A 9p share
 * remaps inode numbers: bind mounts under it are other devices, whose inodes could collide.
 */
function shareOf(share: VmShare, microvm: boolean): XmlNode {
  const node: XmlNode =
    share.driver === '9p'
      ? { $: { type: 'mount', accessmode: 'passthrough', multidevs: 'remap' } }
      : { $: { type: 'mount', accessmode: 'passthrough' }, driver: [{ $: { type: 'virtiofs' } }] };
  node.source = [{ $: { dir: share.source } }];
  node.target = [{ $: { dir: share.tag } }];
  return withAddress(node, microvm);
}

function diskOf(disk: VmDisk, microvm: boolean): XmlNode {
  return withAddress(
    {
      $: { type: disk.kind, device: 'disk' },
      driver: [{ $: { name: 'qemu', type: disk.format } }],
      source: [{ $: disk.kind === 'file' ? { file: disk.source } : { dev: disk.source } }],
      target: [{ $: { dev: disk.target, bus: 'virtio' } }],
    },
    microvm,
  );
}

/** An existing tap libvirt opens but does not manage: runv made it and moves it after the start. */
function interfaceOf(nic: DomainInterface, microvm: boolean): XmlNode {
  return withAddress(
    { $: { type: 'ethernet' }, mac: [{ $: { address: nic.mac } }], target: [{ $: { dev: nic.tap, managed: 'no' } }], model: [{ $: { type: 'virtio' } }] },
    microvm,
  );
}

function withAddress(node: XmlNode, microvm: boolean): XmlNode {
  if (microvm) node.address = [{ $: { type: 'virtio-mmio' } }];
  return node;
}

/**
 * virtiofsd reaches the guest's memory directly: it must be shareable. On microvm, QEMU's
 * virtio-mmio devices default to the legacy interface, on which virtiofsd panics; libvirt has
 * no element for that, hence QEMU's own argument.
 */
function shareMemoryWithVirtiofsd(domain: XmlNode, microvm: boolean): void {
  domain.memoryBacking = [{ source: [{ $: { type: 'memfd' } }], access: [{ $: { mode: 'shared' } }] }];
  if (!microvm) return;
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
