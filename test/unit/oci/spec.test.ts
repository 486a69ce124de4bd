import assert from 'node:assert/strict';
import { RunvError } from '../../../src/core/errors';
import { defaultSpec } from '../../../src/oci/default-spec';
import { cpusetSize, DEFAULT_MEMORY_MIB, MIN_MEMORY_MIB, specToSandbox } from '../../../src/oci/to-sandbox';
import { parseSpec } from '../../../src/oci/validate';

const withSpec = (edit: (spec: any) => void): string => {
  const spec: any = defaultSpec();
  edit(spec);
  return JSON.stringify(spec);
};

function assertInvalid(text: string, field: string): void {
  assert.throws(() => parseSpec(text), (e: RunvError) => e.code === 'invalid-spec' && e.exitCode !== 0 && e.message.startsWith(`config.json: ${field}: `), `expected an error naming ${field}`);
}

describe('config.json validation', () => {
  it('accepts the spec `runv spec` writes', () => {
    assert.equal(parseSpec(JSON.stringify(defaultSpec())).process?.args[0], 'sh');
  });

  it('says when the file is not JSON', () => assertInvalid('{"ociVersion":', '(file)'));
  it('names a missing root.path', () => assertInvalid(withSpec((s) => delete s.root.path), 'root.path'));
  it('names empty process.args', () => assertInvalid(withSpec((s) => (s.process.args = [])), 'process.args'));
  it('names a non-string argument', () => assertInvalid(withSpec((s) => (s.process.args = ['sh', 3])), 'process.args[1]'));
  it('names a relative process.cwd', () => assertInvalid(withSpec((s) => (s.process.cwd = 'tmp')), 'process.cwd'));
  it('names a negative uid', () => assertInvalid(withSpec((s) => (s.process.user.uid = -1)), 'process.user.uid'));
  it('names an env entry without =', () => assertInvalid(withSpec((s) => (s.process.env = ['PATH=/bin', 'BROKEN'])), 'process.env[1]'));
  it('names an unknown rlimit', () => assertInvalid(withSpec((s) => (s.process.rlimits = [{ type: 'NOFILE', soft: 1, hard: 1 }])), 'process.rlimits[0].type'));
  it('names a mount with a relative destination', () => assertInvalid(withSpec((s) => (s.mounts = [{ destination: 'proc', type: 'proc' }])), 'mounts[0].destination'));
  it('names a mount destination whose .. leaves the root', () => assertInvalid(withSpec((s) => (s.mounts = [{ destination: '/a/../../etc', type: 'tmpfs' }])), 'mounts[0].destination'));
  it('accepts a .. that stays inside the root', () => assert.equal(parseSpec(withSpec((s) => (s.mounts = [{ destination: '/a/../etc', type: 'tmpfs' }]))).mounts?.length, 1));
  it('names an unsupported mount type', () => assertInvalid(withSpec((s) => (s.mounts = [{ destination: '/n', type: 'nfs', source: 'srv:/x' }])), 'mounts[0].type'));
  it('names a bind mount without a source', () => assertInvalid(withSpec((s) => (s.mounts = [{ destination: '/d', type: 'bind' }])), 'mounts[0].source'));
  it('takes any type with a bind option as a bind mount', () => assert.equal(parseSpec(withSpec((s) => (s.mounts = [{ destination: '/d', type: 'none', source: '/x', options: ['rbind'] }]))).mounts?.length, 1));
  it('names a maskedPaths entry that leaves the root', () => assertInvalid(withSpec((s) => (s.linux = { maskedPaths: ['/../x'] })), 'linux.maskedPaths[0]'));
  it('names an argument longer than a protocol attribute carries', () =>
    assertInvalid(withSpec((s) => (s.process.args = ['sh', '-c', 'true', 'x'.repeat(65536)])), 'process.args[3]'));
  it('counts bytes, not characters, against the attribute limit', () =>
    assertInvalid(withSpec((s) => (s.process.env = [`A=${'é'.repeat(32767)}`])), 'process.env[0]'));
  it('accepts args and env that fit one START_PROCESS frame with room for the rest', () => {
    const spec = parseSpec(withSpec((s) => Object.assign(s.process, { args: ['x'.repeat(30000), 'y'.repeat(29000)], env: [`A=${'z'.repeat(1000)}`] })));
    assert.equal(spec.process?.args.length, 2);
  });
  it('rejects args and env that together exceed one START_PROCESS frame', () => {
    const text = withSpec((s) => {
      s.process.args = ['x'.repeat(40000)];
      s.process.env = [`A=${'y'.repeat(30000)}`];
    });
    assert.throws(() => parseSpec(text), (e: RunvError) => e.code === 'invalid-spec' && e.message === 'config.json: process: args and env together exceed the 64 KiB the guest protocol carries');
  });
  it('names a hook with a relative path', () => assertInvalid(withSpec((s) => (s.hooks = { prestart: [{ path: 'bin/hook' }] })), 'hooks.prestart[0].path'));
  it('names a hook timeout of zero', () => assertInvalid(withSpec((s) => (s.hooks = { poststop: [{ path: '/bin/true', timeout: 0 }] })), 'hooks.poststop[0].timeout'));
  it('names a non-string hook argument', () => assertInvalid(withSpec((s) => (s.hooks = { createRuntime: [{ path: '/bin/true', args: ['true', 1] }] })), 'hooks.createRuntime[0].args[1]'));
  it('names a namespace without a type', () => assertInvalid(withSpec((s) => (s.linux = { namespaces: [{ path: '/run/netns/x' }] })), 'linux.namespaces[0].type'));
  it('names a namespace path with a space or a newline', () => assertInvalid(withSpec((s) => (s.linux = { namespaces: [{ type: 'network', path: '/run/netns/x\nlink del eth0' }] })), 'linux.namespaces[0].path'));
  it('names a namespace path that is not a string', () => assertInvalid(withSpec((s) => (s.linux = { namespaces: [{ type: 'network', path: 7 }] })), 'linux.namespaces[0].path'));
  it('names a non-integer memory limit', () => assertInvalid(withSpec((s) => (s.linux = { resources: { memory: { limit: '1G' } } })), 'linux.resources.memory.limit'));
});

describe('OCI spec -> sandbox model', () => {
  const translate = (edit: (spec: any) => void = () => undefined, terminal?: boolean) =>
    specToSandbox(parseSpec(withSpec(edit)), { id: 'c1', bundle: '/b', terminal, defaultStorage: '9p' });

  it("takes the network namespace's path, and none when the spec asks for a new one", () => {
    const joined = translate((s) => (s.linux = { namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/cni-1' }] }));
    assert.equal(joined.networkNamespace, '/run/netns/cni-1');
    assert.equal(translate((s) => (s.linux = { namespaces: [{ type: 'network' }] })).networkNamespace, undefined);
  });

  it('resolves the rootfs against the bundle', () => assert.equal(translate().rootfsPath, '/b/rootfs'));

  it('carries the process: args, env, cwd, user, rlimits', () => {
    const p = translate((s) => Object.assign(s.process, { args: ['/bin/echo', 'hi'], cwd: '/tmp', user: { uid: 1000, gid: 100, additionalGids: [5, 6], umask: 18 } })).process;
    assert.deepEqual([p.args, p.cwd, p.uid, p.gid, p.additionalGids, p.umask, p.init], [['/bin/echo', 'hi'], '/tmp', 1000, 100, [5, 6], 18, true]);
    assert.deepEqual(p.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024n, hard: 1024n }]);
  });

  it('clamps rlimits at or beyond 2^64-1 to unlimited', () => {
    const [rl] = translate((s) => (s.process.rlimits = [{ type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 }])).process.rlimits;
    assert.equal(rl.hard, (1n << 64n) - 1n);
  });

  it('lets `run -t` override process.terminal', () => {
    assert.equal(translate((s) => (s.process.terminal = false), true).process.terminal, true);
    assert.equal(translate((s) => (s.process.terminal = true), false).process.terminal, false);
  });

  it('gives the VM the default memory and one vcpu without limits', () => {
    assert.deepEqual(translate().resources, { memoryMiB: DEFAULT_MEMORY_MIB, vcpus: 1 });
  });

  it('sizes the VM from linux.resources, never below what boots', () => {
    assert.deepEqual(translate((s) => (s.linux.resources = { memory: { limit: 700 * 2 ** 20 }, cpu: { quota: 250000, period: 100000 } })).resources, { memoryMiB: 700, vcpus: 3 });
    assert.equal(translate((s) => (s.linux.resources = { memory: { limit: 16 * 2 ** 20 } })).resources.memoryMiB, MIN_MEMORY_MIB);
    assert.equal(translate((s) => (s.linux.resources = { cpu: { cpus: '0-1,4' } })).resources.vcpus, 3);
  });

  it('keeps the kernel filesystems and binds, with their options', () => {
    const mounts = translate((s) => s.mounts.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind'] })).container.mounts;
    assert.deepEqual(mounts.map((m) => m.type), ['proc', 'tmpfs', 'devpts', 'tmpfs', 'mqueue', 'sysfs', 'bind']);
    assert.deepEqual(mounts[5].options, ['nosuid', 'noexec', 'nodev', 'ro']);
  });

  it('keeps root.readonly for the guest to apply', () => {
    assert.equal(translate().container.readonlyRoot, true);
    assert.equal(translate((s) => (s.root.readonly = false)).container.readonlyRoot, false);
  });

  it('takes the storage driver from the annotation, else the runtime default', () => {
    assert.equal(translate().storage, '9p');
    assert.equal(translate((s) => (s.annotations = { 'io.runv.storage': 'virtiofs' })).storage, 'virtiofs');
    assert.throws(() => translate((s) => (s.annotations = { 'io.runv.storage': 'nfs' })), (e: RunvError) => e.code === 'invalid-spec' && /annotations\.io\.runv\.storage: "nfs" is not one of 9p, virtiofs, block/.test(e.message));
  });

  it('keeps bind mounts in spec order with their host source resolved against the bundle', () => {
    const mounts = translate((s) => s.mounts.push({ destination: '/a/./b/', source: 'data', options: ['rbind', 'ro'] }, { destination: '/a/b/tmp', type: 'tmpfs' })).container.mounts.slice(-2);
    assert.deepEqual(mounts.map((m) => [m.type, m.source, m.destination]), [['bind', '/b/data', '/a/b/'], ['tmpfs', 'tmpfs', '/a/b/tmp']]);
  });

  it('carries maskedPaths and readonlyPaths', () => {
    const c = translate((s) => (s.linux = { maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] })).container;
    assert.deepEqual([c.maskedPaths, c.readonlyPaths], [['/proc/kcore'], ['/proc/sys']]);
  });

  it('carries the hooks of each step, argv defaulting to the path and env to none', () => {
    const hooks = translate((s) => (s.hooks = { poststart: [{ path: '/bin/true' }, { path: '/bin/sh', args: ['sh', '-c', 'exit 0'], env: ['A=1'], timeout: 5 }], prestart: [] })).hooks;
    assert.deepEqual(hooks, {
      poststart: [
        { path: '/bin/true', args: ['/bin/true'], env: [], timeoutSeconds: undefined },
        { path: '/bin/sh', args: ['sh', '-c', 'exit 0'], env: ['A=1'], timeoutSeconds: 5 },
      ],
    });
  });

  it('counts cpuset lists and rejects malformed ones', () => {
    assert.equal(cpusetSize('0-3,6'), 5);
    assert.throws(() => cpusetSize('3-1'), /reversed/);
    assert.throws(() => cpusetSize('a'), /not a cpu list/);
  });
});
