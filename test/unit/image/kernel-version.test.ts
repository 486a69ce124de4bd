import assert from 'node:assert/strict';
import { compareKernelVersions, kernelVersionFromPath, newestKernelFile } from '../../../src/image/kernel-version';

describe('kernel versions', () => {
  it('takes the version from a vmlinuz-<version> file name', () => {
    assert.equal(kernelVersionFromPath('/boot/vmlinuz-6.1.0-57-amd64'), '6.1.0-57-amd64');
    assert.equal(kernelVersionFromPath('/boot/bzImage'), undefined);
  });

  it('compares digit runs as numbers', () => {
    assert.ok(compareKernelVersions('6.1.0-57-amd64', '6.1.0-9-amd64') > 0);
    assert.ok(compareKernelVersions('6.10.0-1-amd64', '6.9.0-1-amd64') > 0);
    assert.equal(compareKernelVersions('6.1.0-57-amd64', '6.1.0-57-amd64'), 0);
  });

  it('picks the newest vmlinuz among other files of /boot', () => {
    const names = ['config-6.1.0-57-amd64', 'vmlinuz-6.1.0-9-amd64', 'vmlinuz-6.1.0-57-amd64', 'System.map-6.1.0-60-amd64'];
    assert.equal(newestKernelFile(names), 'vmlinuz-6.1.0-57-amd64');
    assert.equal(newestKernelFile(['config-6.1.0-57-amd64']), undefined);
  });
});
