import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Container } from 'inversify';
import { MessageType, Tag } from '../../../src/agent/protocol';
import { RunvError } from '../../../src/core/errors';
import { Hypervisor } from '../../../src/core/ports';
import { createContainer } from '../../../src/di/container';
import { defaultSpec } from '../../../src/oci/default-spec';
import { LifecycleService } from '../../../src/lifecycle/lifecycle-service';
import { sandboxFromBundle } from '../../../src/runtime/bundle';
import { RunService } from '../../../src/runtime/run-service';
import { SandboxLauncher } from '../../../src/runtime/sandbox-launcher';
import { defaultRuntimeConfig, RuntimeConfig } from '../../../src/runtime/runtime-config';
import { FakeHypervisor } from '../../fakes/fake-hypervisor';

function makeFakeImage(imagesDir: string): void {
  const dir = path.join(imagesDir, 'k1');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'vmlinux'), 'kernel');
  fs.writeFileSync(path.join(dir, 'initrd.img'), 'initrd!');
  fs.writeFileSync(path.join(dir, 'initrd-block.img'), 'block initrd!');
  const manifest = { formatVersion: 3, key: 'k1', kernelVersion: '6.1.0-test', kernelPath: '/boot/vmlinuz-6.1.0-test', kernelCompression: 'xz', initPath: '/init', modules: [], sizes: { vmlinux: 6, initrd: 7, blockInitrd: 13 }, created: new Date(0).toISOString() };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  fs.symlinkSync('k1', path.join(imagesDir, 'current'));
}

function makeBundle(dir: string, args: string[]): string {
  const spec = defaultSpec();
  spec.process!.args = args;
  spec.process!.terminal = false;
  fs.mkdirSync(path.join(dir, 'rootfs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

describe('run service (fake hypervisor, fake guest on a real socket)', () => {
  let tmp: string;
  let config: RuntimeConfig;
  let hypervisor: FakeHypervisor;
  let services: Container;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-unit-'));
    config = defaultRuntimeConfig({ root: path.join(tmp, 'state'), socketDir: path.join(tmp, 'sock'), imagesDir: path.join(tmp, 'images'), bootTimeoutMs: 2000 });
    makeFakeImage(config.imagesDir);
    hypervisor = new FakeHypervisor();
    services = createContainer(config);
    services.rebind<Hypervisor>(Hypervisor).toConstantValue(hypervisor);
  });

  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function run(id: string, bundle: string, stdinText = '') {
    const stdio = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdio.stdout.on('data', (d) => out.push(d));
    stdio.stderr.on('data', (d) => err.push(d));
    stdio.stdin.end(stdinText);
    const signals = new EventEmitter();
    const status = services.get(RunService).run({ id, bundle, stdio, signals });
    return { status, output: () => Buffer.concat(out).toString(), errors: () => Buffer.concat(err).toString(), signals, stdio };
  }

  const started = () => waitFor(() => hypervisor.guests[0]?.received.some((m) => m.type === MessageType.StartProcess));
  /** Running, as `runv state` would say: from then on runv forwards its signals. */
  const running = () => waitFor(() => fs.existsSync(path.join(config.root, 'c1', 'state.json')) && services.get(LifecycleService).store.read('c1').status === 'running');

  /** Nothing of a sandbox may outlive its run: no domain, no state, no socket. */
  function assertNothingLeft(): void {
    assert.deepEqual([...hypervisor.domains.keys()], []);
    assert.deepEqual(fs.existsSync(config.root) ? fs.readdirSync(config.root) : [], []);
    assert.deepEqual(fs.existsSync(config.socketDir) ? fs.readdirSync(config.socketDir) : [], []);
  }

  it('streams output and returns the exit status, then removes everything', async () => {
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['echo', 'hello', 'world']));
    assert.equal(await r.status, 0);
    assert.equal(r.output(), 'hello world\n');
    assert.deepEqual(hypervisor.created, ['runv-c1']);
    assertNothingLeft();
  });

  it('passes a non-zero exit status through', async () => {
    assert.equal(await run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '42'])).status, 42);
    assertNothingLeft();
  });

  it('relays stdin and closes it at end of input', async () => {
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['cat']), 'piped text');
    assert.equal(await r.status, 0);
    assert.equal(r.output(), 'piped text');
    assertNothingLeft();
  });

  it('forwards the first SIGTERM to the container', async () => {
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['sleep']));
    await running();
    r.signals.emit('SIGTERM');
    assert.equal(await r.status, 143);
    const signal = hypervisor.guests[0].received.find((m) => m.type === MessageType.Signal);
    assert.equal(signal?.attributes.u32(Tag.Signal), 15);
    assertNothingLeft();
  });

  it('tears the sandbox down on a second SIGINT when the container ignores the first', async () => {
    hypervisor.ignoresSignals = true;
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['sleep']));
    await running();
    r.signals.emit('SIGINT');
    await waitFor(() => hypervisor.guests[0].received.some((m) => m.type === MessageType.Signal));
    r.signals.emit('SIGINT');
    assert.equal(await r.status, 130);
    assertNothingLeft();
  });

  it('aborts a boot on SIGINT, exits 130 and leaves nothing behind', async () => {
    hypervisor.bootsSilently = true;
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0']));
    await waitFor(() => hypervisor.domains.has('runv-c1'));
    r.signals.emit('SIGINT');
    await assert.rejects(r.status, (e: RunvError) => e.exitCode === 130 && /interrupted by SIGINT/.test(e.message));
    assertNothingLeft();
  });

  it('breaks the guest end of stdout when the reader of runv\'s stdout goes away', async () => {
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['sleep']));
    await started();
    r.stdio.stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    assert.equal(await r.status, 128 + 13);
    const close = hypervisor.guests[0].received.find((m) => m.type === MessageType.CloseOutput);
    assert.deepEqual([close?.attributes.str(Tag.ProcessId), close?.attributes.u32(Tag.Stream)], ['init', 1]);
    assertNothingLeft();
  });

  it('survives a reader that goes away just as the container exits', async () => {
    const brokenPipe = new Writable({ write: (_chunk, _encoding, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    const stdio = { stdin: new PassThrough(), stdout: brokenPipe, stderr: new PassThrough() };
    stdio.stdin.end();
    const status = services.get(RunService).run({ id: 'c1', bundle: makeBundle(path.join(tmp, 'b'), ['echo', 'last words']), stdio, signals: new EventEmitter() });
    assert.equal(await status, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assertNothingLeft();
  });

  it('aborts on a stop signal that arrives while the process is being started', async () => {
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['slowstart']));
    await started();
    r.signals.emit('SIGTERM');
    await assert.rejects(r.status, (e: RunvError) => e.exitCode === 143 && /interrupted by SIGTERM/.test(e.message));
    assertNothingLeft();
  });

  it('leaves alone a domain of the same name that another run created meanwhile', async () => {
    hypervisor.failCreate = new RunvError('unavailable', "libvirt could not start the domain: operation failed: domain 'runv-c1' already exists");
    await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, /container id "c1" is already in use/);
    assert.deepEqual(hypervisor.destroyed, []);
    assertNothingLeft();
  });

  it('reclaims a state directory whose owner file is unreadable once it is old', async () => {
    const dir = path.join(config.root, 'c1');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'owner.pid'), 'garbage');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(dir, old, old);
    assert.equal(await run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, 0);
  });

  it('returns the exit status even when the cleanup fails, with a warning', async () => {
    hypervisor.failDestroy = new RunvError('unavailable', 'libvirt: connection reset');
    hypervisor.bootsSilently = false;
    const r = run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '3']));
    assert.equal(await r.status, 3);
    assert.match(r.errors(), /^runv: warning: .*connection reset/);
  });

  it('removes everything when libvirt fails to create the domain', async () => {
    hypervisor.failCreate = new RunvError('unavailable', 'libvirt could not start the domain: no space');
    await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, /no space/);
    assertNothingLeft();
  });

  it('gives a terminal the size of runv\'s and passes size changes on', async () => {
    const stdio = { stdin: new PassThrough(), stdout: Object.assign(new PassThrough(), { isTTY: true, rows: 24, columns: 80 }), stderr: new PassThrough() };
    const signals = new EventEmitter();
    const status = services.get(RunService).run({ id: 'c1', bundle: makeBundle(path.join(tmp, 'b'), ['sleep']), terminal: true, stdio, signals });
    await running();
    Object.assign(stdio.stdout, { rows: 50, columns: 132 });
    signals.emit('SIGWINCH');
    await waitFor(() => hypervisor.guests[0].received.some((m) => m.type === MessageType.Resize));
    signals.emit('SIGTERM');
    assert.equal(await status, 143);
    const start = hypervisor.guests[0].received.find((m) => m.type === MessageType.StartProcess)!;
    const resize = hypervisor.guests[0].received.find((m) => m.type === MessageType.Resize)!;
    assert.deepEqual([start.attributes.u32(Tag.Terminal), start.attributes.u32(Tag.Rows), start.attributes.u32(Tag.Cols)], [1, 24, 80]);
    assert.deepEqual([resize.attributes.u32(Tag.Rows), resize.attributes.u32(Tag.Cols)], [50, 132]);
  });

  it('reports a missing program with exit code 127 and leaves nothing behind', async () => {
    await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['/missing/prog'])).status, (e: RunvError) => e.exitCode === 127 && /No such file/.test(e.message));
    assertNothingLeft();
  });

  it('boots the initrd with the disk filesystems only a VM with a disk', async () => {
    const launcher = services.get(SandboxLauncher);
    const directory = sandboxFromBundle('c-dir', makeBundle(path.join(tmp, 'dir'), ['true']), { defaultStorage: '9p' });
    const diskBundle = makeBundle(path.join(tmp, 'disk'), ['true']);
    const disk = path.join(tmp, 'rootfs.xfs');
    fs.writeFileSync(disk, Buffer.concat([Buffer.from('XFSB'), Buffer.alloc(4096)]));
    const spec = JSON.parse(fs.readFileSync(path.join(diskBundle, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(diskBundle, 'config.json'), JSON.stringify({ ...spec, root: { path: disk } }));
    const block = sandboxFromBundle('c-disk', diskBundle, { defaultStorage: 'block' });
    assert.match(await launcher.domainXml(directory), new RegExp(`<initrd>${path.join(config.imagesDir, 'k1', 'initrd.img')}</initrd>`));
    assert.match(await launcher.domainXml(block), new RegExp(`<initrd>${path.join(config.imagesDir, 'k1', 'initrd-block.img')}</initrd>`));
  });

  it('sends the container and its init process as the spec describes', async () => {
    await run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status;
    const [, add, start] = hypervisor.guests[0].received;
    assert.deepEqual([add.type, add.attributes.str(Tag.ContainerId), add.attributes.str(Tag.RootfsFstype), add.attributes.u32(Tag.Readonly)], [MessageType.AddContainer, 'c1', '9p', 1]);
    assert.deepEqual([start.type, start.attributes.strs(Tag.Arg), start.attributes.u32(Tag.Init)], [MessageType.StartProcess, ['exit', '0'], 1]);
    assert.equal(hypervisor.guests[0].received.at(-1)?.type, MessageType.Shutdown);
  });

  describe('bad input creates nothing', () => {
    const cases: [string, () => [string, string], RegExp][] = [
      ['an invalid id', () => ['-bad', makeBundle(path.join(tmp, 'b'), ['exit', '0'])], /invalid container id/],
      ['a missing bundle', () => ['c1', path.join(tmp, 'nope')], /does not exist/],
      ['a bundle without config.json', () => ['c1', fs.mkdtempSync(path.join(tmp, 'empty-'))], /no config.json/],
      ['a rootfs that does not exist', () => {
        const b = makeBundle(path.join(tmp, 'b'), ['exit', '0']);
        fs.rmSync(path.join(b, 'rootfs'), { recursive: true });
        return ['c1', b];
      }, /root.path: .* does not exist/],
      ['an invalid config.json', () => {
        const b = makeBundle(path.join(tmp, 'b'), ['exit', '0']);
        fs.writeFileSync(path.join(b, 'config.json'), '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"args":[],"cwd":"/"}}');
        return ['c1', b];
      }, /config.json: process.args: /],
    ];
    for (const [what, setup, message] of cases) {
      it(`rejects ${what} with one clear line`, async () => {
        const [id, bundle] = setup();
        await assert.rejects(run(id, bundle).status, (e: RunvError) => e instanceof RunvError && e.exitCode !== 0 && message.test(e.message) && !e.message.includes('\n'));
        assert.deepEqual(hypervisor.created, []);
        assertNothingLeft();
      });
    }

    it('rejects a missing guest image', async () => {
      fs.rmSync(path.join(config.imagesDir, 'current'));
      await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, (e: RunvError) => e.code === 'image-missing' && /runv image build/.test(e.message));
      assertNothingLeft();
    });

    it('rejects an id that is in use by a running container', async () => {
      fs.mkdirSync(path.join(config.root, 'c1'), { recursive: true });
      fs.writeFileSync(path.join(config.root, 'c1', 'owner.pid'), `${process.pid}`);
      await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, /already in use/);
      assert.deepEqual(hypervisor.created, []);
      assert.deepEqual(fs.readdirSync(config.root), ['c1'], 'the other run keeps its state');
    });

    it('reclaims the state an id kept after its runv was killed', async () => {
      const dead = spawnSync('true').pid;
      fs.mkdirSync(path.join(config.root, 'c1'), { recursive: true });
      fs.writeFileSync(path.join(config.root, 'c1', 'owner.pid'), `${dead}`);
      assert.equal(await run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, 0);
      assertNothingLeft();
    });

    it('rejects an id whose domain libvirt already has', async () => {
      hypervisor.domains.set('runv-c1', { xml: '', state: 'running' });
      await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, /already in use/);
      assert.deepEqual(fs.readdirSync(config.root), []);
      assert.deepEqual(fs.existsSync(config.socketDir) ? fs.readdirSync(config.socketDir) : [], []);
    });

    it('says libvirtd is not reachable and leaves no state', async () => {
      hypervisor.unavailable = new RunvError('unavailable', 'cannot connect to libvirt at qemu:///system: is libvirtd running?');
      await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, /libvirtd running/);
      assert.deepEqual(fs.readdirSync(config.root), []);
    });
  });

  it('destroys the domain when the guest never answers', async () => {
    hypervisor.bootsSilently = true;
    config.bootTimeoutMs = 300;
    await assert.rejects(run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status, /did not answer within/);
    assertNothingLeft();
  });

  it('fails fast when the VM stops while booting', async () => {
    hypervisor.bootsSilently = true;
    const status = run('c1', makeBundle(path.join(tmp, 'b'), ['exit', '0'])).status;
    await waitFor(() => hypervisor.domains.has('runv-c1'));
    hypervisor.domains.get('runv-c1')!.state = 'shutoff';
    await assert.rejects(status, /VM stopped while booting/);
    assertNothingLeft();
  });
});

async function waitFor(condition: () => unknown, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

