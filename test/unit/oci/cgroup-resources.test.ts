import assert from 'node:assert/strict';
import { cgroupFiles, cpuWeight, refuseUnsupported } from '../../../src/oci/cgroup-resources';

const MIB = 1024 * 1024;

describe('linux.resources -> the container cgroup in the guest', () => {
  const vm = 256 * MIB;

  it('writes the memory, cpu and pids limits that are set, and nothing for the rest', () => {
    assert.deepEqual(cgroupFiles({ memory: { limit: 64 * MIB, reservation: 32 * MIB }, cpu: { shares: 1024, quota: 50_000, period: 200_000 }, pids: { limit: 100 } }, vm), {
      'memory.max': String(64 * MIB),
      'memory.low': String(32 * MIB),
      'cpu.weight': '39',
      'cpu.max': '50000 200000',
      'pids.max': '100',
    });
    assert.deepEqual(cgroupFiles({}, vm), {});
    assert.deepEqual(cgroupFiles({ memory: { limit: 0 }, pids: { limit: 0 }, cpu: null }, vm), {}, 'zero and null mean: unchanged');
  });

  it('lifts a limit given as -1, and keeps the default period when only a quota is given', () => {
    assert.deepEqual(cgroupFiles({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: -1 } }, vm), { 'memory.max': 'max', 'pids.max': 'max', 'cpu.max': 'max 100000' });
    assert.equal(cgroupFiles({ cpu: { quota: 20_000 } }, vm)['cpu.max'], '20000 100000');
  });

  it("refuses more memory than the VM booted with, naming both", () => {
    assert.throws(() => cgroupFiles({ memory: { limit: 512 * MIB } }, vm), { code: 'invalid-argument', message: 'linux.resources.memory.limit: 512 MiB is more than the 256 MiB the VM booted with, which is fixed' });
  });

  it('names a limit that is not an integer', () => {
    assert.throws(() => cgroupFiles({ pids: { limit: '10' } }, vm), { message: 'linux.resources.pids.limit: must be an integer' });
  });

  it("maps cpu shares onto weights as runc does, at both ends of the range", () => {
    assert.deepEqual([cpuWeight(2), cpuWeight(1024), cpuWeight(262_144)], [1, 39, 10_000]);
  });

  it('refuses what a VM cannot change by name, and lets empty or unset sections through', () => {
    assert.throws(() => refuseUnsupported({ cpu: { cpus: '0-1', shares: 2 }, devices: [{ allow: false }], hugepageLimits: [] }), {
      message: /^cannot update linux\.resources\.cpu\.cpus, linux\.resources\.devices: /,
    });
    refuseUnsupported({ memory: { limit: MIB, swap: 2 * MIB }, blockIO: {}, devices: [], network: null, cpu: { realtimeRuntime: null } });
  });
});
