import assert from 'node:assert/strict';
import * as path from 'node:path';
import { defaultRuntimeConfig } from '../../../src/runtime/runtime-config';

describe('runtime config', () => {
  it('makes relative directories absolute, since libvirtd resolves domain paths from its own cwd', () => {
    const config = defaultRuntimeConfig({ root: 'state', imagesDir: './images' });
    assert.equal(config.root, path.resolve('state'));
    assert.equal(config.imagesDir, path.resolve('images'));
  });

  it('keeps the defaults where a flag was not given', () => {
    assert.equal(defaultRuntimeConfig({ root: undefined }).root, '/run/runv');
  });
});
