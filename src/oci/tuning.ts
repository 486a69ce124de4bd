import { invalidSpec, RunvError } from '../core/errors';
import { NumaMode, VmTuning } from '../core/model';

/**
 * The annotations that tune a container's domain (docs/design.md, Tuning). The runtime config's
 * `annotations` gives host-wide defaults in the same form; a spec's own annotation wins.
 */
export const TUNING_ANNOTATIONS = {
  vcpuPin: 'io.runv.cputune.vcpupin',
  emulatorPin: 'io.runv.cputune.emulatorpin',
  hugepages: 'io.runv.hugepages',
  numaNodeset: 'io.runv.numa.nodeset',
  numaMode: 'io.runv.numa.mode',
  vhostUser: 'io.runv.vhostuser',
  sriov: 'io.runv.sriov',
  partition: 'io.runv.partition',
  iotune: 'io.runv.iotune',
  bandwidth: 'io.runv.bandwidth',
} as const;

const A = TUNING_ANNOTATIONS;

/**
 * Annotations that hand a container something of the host's: a PCI device (unbound from its
 * host driver), any host unix socket, a place in the host's cgroup tree. Whoever may set a
 * container's annotations (podman --annotation, a CRI pod) must not get them: a spec may carry
 * one only if the operator lists it in the config's `allowedAnnotations`; the config's own
 * `annotations` defaults are the operator's and always apply.
 */
export const HOST_RESOURCE_ANNOTATIONS: readonly string[] = [A.sriov, A.vhostUser, A.partition];

/** Throws for a host-resource annotation the spec sets and the operator did not allow. */
export function refuseHostResources(annotations: Record<string, string>, allowed: readonly string[]): void {
  for (const name of HOST_RESOURCE_ANNOTATIONS) {
    if (annotations[name] !== undefined && !allowed.includes(name)) {
      throw bad(name, `gives the container a host resource: the operator must list it in allowedAnnotations of runv's config file`);
    }
  }
}
const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const NUMA_MODES: readonly NumaMode[] = ['strict', 'preferred', 'interleave'];
/** libvirt's <iotune> children that take a number. */
const IOTUNE_KEYS = ['total_bytes_sec', 'read_bytes_sec', 'write_bytes_sec', 'total_iops_sec', 'read_iops_sec', 'write_iops_sec'];
const BANDWIDTH_KEYS = ['inbound', 'outbound'].flatMap((direction) => ['average', 'peak', 'burst'].map((key) => `${direction}.${key}`));

/** Pure: a container's annotations (the config's defaults under the spec's own) -> its tuning. */
export function tuningOf(annotations: Record<string, string>): VmTuning {
  const nodeset = annotations[A.numaNodeset];
  return {
    vcpuPins: list(annotations, A.vcpuPin, ';').map(vcpuPinOf),
    emulatorPin: optional(annotations, A.emulatorPin, (value) => cpuset(A.emulatorPin, value)),
    hugepages: optional(annotations, A.hugepages, hugepagesOf),
    numa: nodeset === undefined ? undefined : { nodeset: cpuset(A.numaNodeset, nodeset.trim()), mode: numaModeOf(annotations[A.numaMode]) },
    vhostUser: list(annotations, A.vhostUser, ',').map((socket) => absolute(A.vhostUser, socket)),
    sriov: list(annotations, A.sriov, ',').map(pciAddress),
    partition: optional(annotations, A.partition, (value) => absolute(A.partition, value)),
    iotune: Object.fromEntries(pairs(annotations, A.iotune, IOTUNE_KEYS)),
    bandwidth: bandwidthOf(annotations),
  };
}

function list(annotations: Record<string, string>, name: string, separator: string): string[] {
  return (annotations[name] ?? '').split(separator).map((item) => item.trim()).filter(Boolean);
}

function optional<T>(annotations: Record<string, string>, name: string, parse: (value: string) => T): T | undefined {
  const value = annotations[name];
  return value === undefined ? undefined : parse(value.trim());
}

const bad = (name: string, problem: string): RunvError => invalidSpec(`annotations.${name}`, problem);

function cpuset(name: string, value: string): string {
  if (!CPUSET.test(value)) throw bad(name, `${JSON.stringify(value)} is not a list such as 0-1,4`);
  return value;
}

/** "vcpu:cpuset", e.g. "0:2-3". */
function vcpuPinOf(pin: string): { vcpu: number; cpuset: string } {
  const match = /^(\d+):(.+)$/.exec(pin);
  if (!match) throw bad(A.vcpuPin, `${JSON.stringify(pin)} is not vcpu:cpuset (pins are separated by ;)`);
  return { vcpu: Number(match[1]), cpuset: cpuset(A.vcpuPin, match[2]) };
}

/** A page size in KiB, or "default" for the host's default huge page size. */
function hugepagesOf(value: string): { sizeKiB?: number } {
  if (value === 'default') return {};
  if (!/^\d+$/.test(value) || Number(value) === 0) throw bad(A.hugepages, `${JSON.stringify(value)} is neither a page size in KiB nor "default"`);
  return { sizeKiB: Number(value) };
}

function numaModeOf(value: string | undefined): NumaMode {
  if (value === undefined) return 'strict';
  if (!(NUMA_MODES as readonly string[]).includes(value)) throw bad(A.numaMode, `must be one of ${NUMA_MODES.join(', ')}`);
  return value as NumaMode;
}

function absolute(name: string, value: string): string {
  if (!value.startsWith('/')) throw bad(name, `${JSON.stringify(value)} is not an absolute path`);
  return value;
}

function pciAddress(value: string): string {
  if (!PCI_ADDRESS.test(value)) throw bad(A.sriov, `${JSON.stringify(value)} is not a PCI address such as 0000:03:10.1`);
  return value;
}

/** "key=number,key=number" with keys from `allowed`. */
function pairs(annotations: Record<string, string>, name: string, allowed: string[]): [string, number][] {
  return list(annotations, name, ',').map((pair) => {
    const match = /^([a-z_.]+)=(\d+)$/.exec(pair);
    if (!match || !allowed.includes(match[1])) throw bad(name, `${JSON.stringify(pair)} is not key=number with key one of ${allowed.join(', ')}`);
    return [match[1], Number(match[2])];
  });
}

function bandwidthOf(annotations: Record<string, string>): VmTuning['bandwidth'] {
  const bandwidth: VmTuning['bandwidth'] = {};
  for (const [key, value] of pairs(annotations, A.bandwidth, BANDWIDTH_KEYS)) {
    const [direction, field] = key.split('.') as ['inbound' | 'outbound', string];
    bandwidth[direction] = { ...bandwidth[direction], [field]: value };
  }
  return bandwidth;
}
