import assert from 'node:assert/strict';
import { FAST_VALUE_FLAGS, parseFastRun } from '../../../src/cli/fast-run';
import { VALUE_FLAGS } from '../../../src/cli/global-flags';

describe('the fast path of a foreground run', () => {
  it('takes the plain form, with the defaults oclif would give', () => {
    const args = parseFastRun(['run', 'c1'], {});
    assert.deepEqual(args, {
      id: 'c1',
      bundle: '.',
      tty: undefined,
      options: { root: '/run/runv', imagesDir: '/var/lib/runv/images', templateDir: undefined, libvirtUri: undefined, config: undefined, driver: undefined, accel: 'auto', debug: false, log: undefined, logFormat: 'text' },
    });
  });
  it('reads hoisted global flags, --bundle in every spelling and the terminal choice', () => {
    const args = parseFastRun(['run', '--root', '/r', '--accel=tcg', '--debug', '-b', 'b1', '-t', 'c1'], {})!;
    assert.deepEqual([args.id, args.bundle, args.tty, args.options.root, args.options.accel, args.options.debug], ['c1', 'b1', true, '/r', 'tcg', true]);
    assert.equal(parseFastRun(['run', '--bundle=b2', '--no-tty', 'c1'], {})!.bundle, 'b2');
    assert.equal(parseFastRun(['run', '--no-tty', 'c1'], {})!.tty, false);
    assert.equal(parseFastRun(['run', '--driver', 'lxc', 'c1'], {})!.options.driver, 'lxc');
    assert.equal(parseFastRun(['run', '--driver', 'vmware', 'c1'], {}), undefined, 'a value oclif refuses goes to oclif');
  });
  it('takes the libvirt URI and the config file from the environment, as the flags do', () => {
    const args = parseFastRun(['run', 'c1'], { RUNV_LIBVIRT_URI: 'qemu:///session', RUNV_CONFIG: '/c.json' })!;
    assert.deepEqual([args.options.libvirtUri, args.options.config], ['qemu:///session', '/c.json']);
  });
  it('knows every global flag that takes a value (a new one must be mapped here, or it goes to oclif)', () => {
    assert.deepEqual([...VALUE_FLAGS].filter((flag) => !(flag in FAST_VALUE_FLAGS)), []);
    assert.equal(parseFastRun(['run', '--some-new-flag', 'x', 'c1'], {}), undefined);
  });
  it('leaves everything else to oclif: other commands, detached runs, help, odd or repeated flags, bad values', () => {
    for (const argv of [
      ['state', 'c1'],
      ['run', '--detach', 'c1'],
      ['run', '-d', 'c1'],
      ['run', '--pid-file', 'p', 'c1'],
      ['run', '--console-socket', 's', 'c1'],
      ['run', '--preserve-fds', '1', 'c1'],
      ['run', '--help'],
      ['run', 'c1', 'c2'],
      ['run'],
      ['run', '--accel', 'xen', 'c1'],
      ['run', '--log-format', 'yaml', 'c1'],
      ['run', '-b', 'a', '-b', 'b', 'c1'],
      ['run', '-t', '--no-tty', 'c1'],
      ['run', '--debug=yes', 'c1'],
      ['run', '--bundle'],
      ['run', '--', 'c1'],
    ]) {
      assert.equal(parseFastRun(argv, {}), undefined, argv.join(' '));
    }
  });
});
