import assert from 'node:assert/strict';
import { chooseDomainType, KvmFacts } from '../../../src/hypervisor/accel';

const realKvm: KvmFacts = { devKvmUsable: true, pvmModuleLoaded: false, hardwareModuleLoaded: true };

describe('accelerator choice', () => {
  it('uses KVM on a host with hardware KVM', () => assert.equal(chooseDomainType('auto', realKvm).type, 'kvm'));
  it('is not fooled by a PVM /dev/kvm: uses TCG', () => {
    const decision = chooseDomainType('auto', { devKvmUsable: true, pvmModuleLoaded: true, hardwareModuleLoaded: false });
    assert.equal(decision.type, 'qemu');
    assert.match(decision.reason, /kvm_pvm/);
  });
  it('uses TCG without /dev/kvm', () => assert.equal(chooseDomainType('auto', { ...realKvm, devKvmUsable: false }).type, 'qemu'));
  it('uses TCG when no hardware KVM module is loaded', () => assert.equal(chooseDomainType('auto', { ...realKvm, hardwareModuleLoaded: false }).type, 'qemu'));
  it('obeys --accel tcg even where KVM works', () => assert.equal(chooseDomainType('tcg', realKvm).type, 'qemu'));
  it('obeys --accel kvm on a PVM host', () => assert.equal(chooseDomainType('kvm', { devKvmUsable: true, pvmModuleLoaded: true, hardwareModuleLoaded: false }).type, 'kvm'));
  it('refuses --accel kvm without /dev/kvm', () => assert.throws(() => chooseDomainType('kvm', { ...realKvm, devKvmUsable: false }), /\/dev\/kvm/));
});
