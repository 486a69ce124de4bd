import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunvError } from '../../../src/core/errors';
import { parseConfigFile, readConfigFile } from '../../../src/runtime/config-file';

describe('runtime config file', () => {
  it('takes the default storage driver', () => assert.deepEqual(parseConfigFile('{"storage":{"driver":"virtiofs"}}', 'c.json'), { storageDriver: 'virtiofs' }));
  it('takes the driver, libvirt URI, template dir and default annotations', () => {
    const text = JSON.stringify({ driver: 'lxc', libvirtUri: 'lxc:///system', templateDir: '/etc/runv/templates', annotations: { 'io.runv.partition': '/machine/runv' } });
    assert.deepEqual(parseConfigFile(text, 'c.json'), { driver: 'lxc', libvirtUri: 'lxc:///system', templateDir: '/etc/runv/templates', annotations: { 'io.runv.partition': '/machine/runv' } });
    assert.throws(() => parseConfigFile('{"driver":"vbox"}', 'c.json'), /runtime config c\.json: driver must be one of kvm, qemu, xen, lxc/);
    assert.throws(() => parseConfigFile('{"annotations":{"a":1}}', 'c.json'), /annotations must map names to strings/);
  });
  it('takes the host-resource annotations a spec may set', () => {
    assert.deepEqual(parseConfigFile('{"allowedAnnotations":["io.runv.sriov"]}', 'c.json'), { allowedAnnotations: ['io.runv.sriov'] });
    assert.throws(() => parseConfigFile('{"allowedAnnotations":"io.runv.sriov"}', 'c.json'), /allowedAnnotations must be a list of names/);
  });
  it("takes the warm pool's size, a small whole number", () => {
    assert.deepEqual(parseConfigFile('{"pool":{"size":2}}', 'c.json'), { poolSize: 2 });
    for (const size of ['"2"', '-1', '1.5', '17']) assert.throws(() => parseConfigFile(`{"pool":{"size":${size}}}`, 'c.json'), /pool\.size must be an integer from 0 to 16/);
  });
  it('leaves out what it does not set', () => assert.deepEqual(parseConfigFile('{}', 'c.json'), {}));
  it('names the file and the problem in one line', () => {
    assert.throws(() => parseConfigFile('{"storage":{"driver":"nfs"}}', '/etc/runv/config.json'), (e: RunvError) => e.code === 'invalid-argument' && e.message === 'runtime config /etc/runv/config.json: storage.driver must be one of 9p, virtiofs, block');
    assert.throws(() => parseConfigFile('{', 'c.json'), /runtime config c\.json: not valid JSON/);
  });
  it('fails for a file asked for by name that does not exist', () => {
    const missing = path.join(os.tmpdir(), 'runv-no-such-config.json');
    assert.throws(() => readConfigFile(missing), /does not exist/);
  });
  it('reads a file asked for by name', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-config-'));
    fs.writeFileSync(path.join(dir, 'config.json'), '{"storage":{"driver":"block"}}');
    try {
      assert.deepEqual(readConfigFile(path.join(dir, 'config.json')), { storageDriver: 'block' });
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
