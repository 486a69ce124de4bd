import assert from 'node:assert/strict';
import * as path from 'node:path';
import { defaultRuntimeConfig, libvirtUriOf } from '../../../src/runtime/runtime-config';

describe('runtime config', () => {
  it('makes relative directories absolute, since libvirtd resolves domain paths from its own cwd', () => {
    const config = defaultRuntimeConfig({ root: 'state', imagesDir: './images' });
    assert.equal(config.root, path.resolve('state'));
    assert.equal(config.imagesDir, path.resolve('images'));
  });

  it('keeps the defaults where a flag was not given', () => {
    assert.equal(defaultRuntimeConfig({ root: undefined }).root, '/run/runv');
  });

  it("talks to the LXC-only libvirtd for the lxc driver while it runs, else to lxc:///system; a named URI wins", () => {
    assert.equal(libvirtUriOf({ driver: 'lxc' }, true), 'lxc:///system?socket=/run/runv/lxc-libvirtd/libvirt-sock');
    assert.equal(libvirtUriOf({ driver: 'lxc' }, false), 'lxc:///system');
    assert.equal(libvirtUriOf({ driver: 'lxc', libvirtUri: 'lxc:///session' }, true), 'lxc:///session');
    assert.equal(libvirtUriOf({ driver: 'qemu' }, true), 'qemu:///system');
  });
});
