import * as fs from 'node:fs';
import { RunvError } from '../core/errors';
import { DriverName } from '../core/model';
import { DomainType } from './domain-model';

export type AccelChoice = 'auto' | 'kvm' | 'tcg';

/** What the host tells us about KVM, gathered by hostKvmFacts(). */
export interface KvmFacts {
  devKvmUsable: boolean;
  /** kvm_pvm is a software nested KVM on which stock kernels hang at boot. */
  pvmModuleLoaded: boolean;
  hardwareModuleLoaded: boolean;
}

export interface AccelDecision {
  type: DomainType;
  reason: string;
}

/** Pure: picks the libvirt domain type. KVM only where it really works, else TCG (type qemu). */
export function chooseDomainType(choice: AccelChoice, facts: KvmFacts): AccelDecision {
  if (choice === 'tcg') return { type: 'qemu', reason: 'TCG requested' };
  if (choice === 'kvm') {
    if (!facts.devKvmUsable) throw new RunvError('unavailable', 'KVM was asked for (--driver kvm or --accel kvm), but /dev/kvm is missing or cannot be opened');
    return { type: 'kvm', reason: 'KVM requested' };
  }
  if (!facts.devKvmUsable) return { type: 'qemu', reason: '/dev/kvm is missing or cannot be opened: using TCG' };
  if (facts.pvmModuleLoaded) return { type: 'qemu', reason: 'KVM here is kvm_pvm, on which stock kernels hang: using TCG' };
  if (!facts.hardwareModuleLoaded) return { type: 'qemu', reason: 'neither kvm_intel nor kvm_amd is loaded: using TCG' };
  return { type: 'kvm', reason: 'hardware KVM' };
}

/**
 * Pure: the driver a domain is for. An explicit driver wins (kvm still needs a /dev/kvm that
 * opens); without one, QEMU with the accelerator --accel picks.
 */
export function chooseDriver(driver: DriverName | undefined, accel: AccelChoice, facts: KvmFacts): AccelDecision {
  if (driver === undefined) return chooseDomainType(accel, facts);
  if (driver === 'kvm') return { ...chooseDomainType('kvm', facts), reason: '--driver kvm' };
  return { type: driver, reason: `--driver ${driver}` };
}

export function hostKvmFacts(sysModule = '/sys/module', devKvm = '/dev/kvm'): KvmFacts {
  return {
    devKvmUsable: canOpenReadWrite(devKvm),
    pvmModuleLoaded: fs.existsSync(`${sysModule}/kvm_pvm`),
    hardwareModuleLoaded: fs.existsSync(`${sysModule}/kvm_intel`) || fs.existsSync(`${sysModule}/kvm_amd`),
  };
}

function canOpenReadWrite(path: string): boolean {
  try {
    fs.closeSync(fs.openSync(path, 'r+'));
    return true;
  } catch {
    return false;
  }
}
