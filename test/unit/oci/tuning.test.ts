import assert from 'node:assert/strict';
import { RunvError } from '../../../src/core/errors';
import { defaultSpec } from '../../../src/oci/default-spec';
import { specToSandbox } from '../../../src/oci/to-sandbox';
import { TUNING_ANNOTATIONS as A, tuningOf } from '../../../src/oci/tuning';

describe('tuning annotations', () => {
  it('leaves everything unset without annotations', () => {
    assert.deepEqual(tuningOf({}), { vcpuPins: [], emulatorPin: undefined, hugepages: undefined, numa: undefined, vhostUser: [], sriov: [], partition: undefined, iotune: {}, bandwidth: {} });
  });

  it('parses every knob', () => {
    const tuning = tuningOf({
      [A.vcpuPin]: '0:2-3; 1:4,6',
      [A.emulatorPin]: '0',
      [A.hugepages]: 'default',
      [A.numaNodeset]: '0-1',
      [A.numaMode]: 'interleave',
      [A.vhostUser]: '/run/a.sock, /run/b.sock',
      [A.sriov]: '0000:03:10.1',
      [A.partition]: '/machine/t1',
      [A.iotune]: 'read_iops_sec=100',
      [A.bandwidth]: 'outbound.peak=9,outbound.average=5',
    });
    assert.deepEqual(tuning.vcpuPins, [{ vcpu: 0, cpuset: '2-3' }, { vcpu: 1, cpuset: '4,6' }]);
    assert.deepEqual(tuning.hugepages, {});
    assert.deepEqual(tuning.numa, { nodeset: '0-1', mode: 'interleave' });
    assert.deepEqual(tuning.vhostUser, ['/run/a.sock', '/run/b.sock']);
    assert.deepEqual(tuning.iotune, { read_iops_sec: 100 });
    assert.deepEqual(tuning.bandwidth, { outbound: { peak: 9, average: 5 } });
  });

  for (const [name, value, problem] of [
    [A.vcpuPin, '0=2', /is not vcpu:cpuset/],
    [A.emulatorPin, 'all', /is not a list/],
    [A.hugepages, '2M', /neither a page size/],
    [A.numaMode, 'strict', /./],
    [A.vhostUser, 'relative.sock', /not an absolute path/],
    [A.sriov, '03:10.1', /not a PCI address/],
    [A.iotune, 'total_bytes=5', /key one of total_bytes_sec/],
    [A.bandwidth, 'inbound=5', /key one of inbound.average/],
  ] as [string, string, RegExp][]) {
    it(`names ${name} when ${JSON.stringify(value)} is malformed`, () => {
      const annotations = name === A.numaMode ? { [A.numaNodeset]: '0', [A.numaMode]: 'loose' } : { [name]: value };
      assert.throws(() => tuningOf(annotations), (e: RunvError) => e.code === 'invalid-spec' && e.message.includes(`annotations.${name}`) && problem.test(e.message));
    });
  }

  it("refuses a spec's own host-resource annotations unless the operator allows each", () => {
    for (const name of [A.sriov, A.vhostUser, A.partition]) {
      const spec = defaultSpec();
      spec.annotations = { [name]: name === A.sriov ? '0000:03:00.1' : '/run/x' };
      assert.throws(() => specToSandbox(spec, { id: 'c', bundle: '/b', defaultStorage: '9p' }), { code: 'invalid-spec', message: new RegExp(`annotations.${name.replace(/\./g, '\\.')}: gives the container a host resource`) });
      assert.doesNotThrow(() => specToSandbox(spec, { id: 'c', bundle: '/b', defaultStorage: '9p', allowedAnnotations: [name] }));
    }
    const fromOperator = specToSandbox(defaultSpec(), { id: 'c', bundle: '/b', defaultStorage: '9p', defaultAnnotations: { [A.partition]: '/machine/runv' } });
    assert.equal(fromOperator.tuning.partition, '/machine/runv', "the config's own defaults always apply");
  });
});
