import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseSpec } from '../../src/oci/validate';
import { busyboxRootfs, makeBundle } from '../support/busybox-bundle';

/** The host-facing commands besides `run`, through the built CLI as a user types them. */
const RUNV = path.join(__dirname, '../../bin/run.js');

function runv(...args: string[]) {
  const r = spawnSync(RUNV, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('runv commands', function () {
  this.timeout(60_000);
  let tmp: string;

  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-cmd-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('spec', () => {
    it('writes a valid default config.json into the bundle', () => {
      const r = runv('spec', '--bundle', tmp);
      assert.equal(r.status, 0, r.stderr);
      const spec = parseSpec(fs.readFileSync(path.join(tmp, 'config.json'), 'utf8'));
      assert.deepEqual([spec.root.path, spec.process?.args], ['rootfs', ['sh']]);
    });

    it('refuses to overwrite an existing config.json', () => {
      fs.writeFileSync(path.join(tmp, 'config.json'), 'mine');
      const r = runv('spec', '--bundle', tmp);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^runv: .*config.json already exists/);
      assert.equal(fs.readFileSync(path.join(tmp, 'config.json'), 'utf8'), 'mine');
    });
  });

  describe('domain-xml', () => {
    it("prints the domain a bundle would get, valid for libvirt's schema, without starting it", () => {
      const bundle = makeBundle(path.join(tmp, 'b'), busyboxRootfs(tmp), () => undefined);
      const r = runv('domain-xml', '--bundle', bundle, '--accel', 'tcg', 'xml-demo');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /<domain type="qemu">/);
      assert.match(r.stdout, /<name>runv-xml-demo<\/name>/);
      assert.match(r.stdout, /<runv:id>xml-demo<\/runv:id>/);
      fs.writeFileSync(path.join(tmp, 'domain.xml'), r.stdout);
      execFileSync('virt-xml-validate', [path.join(tmp, 'domain.xml'), 'domain'], { stdio: 'pipe' });
      assert.equal(fs.existsSync('/run/runv/xml-demo'), false, 'nothing was created');
    });

    it('says which template file is malformed', () => {
      const bundle = makeBundle(path.join(tmp, 'b'), busyboxRootfs(tmp), () => undefined);
      fs.mkdirSync(path.join(tmp, 'templates'));
      fs.writeFileSync(path.join(tmp, 'templates', 'qemu.xml'), '<domain><devices></domain>');
      const r = runv('domain-xml', '--template-dir', path.join(tmp, 'templates'), '--bundle', bundle, 'xml-demo');
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^runv: template .*templates\/qemu.xml: .+\n$/);
    });
  });

  describe('image build', () => {
    it('shows progress, prints sizes, and does nothing when its inputs did not change', () => {
      const images = path.join(tmp, 'images');
      const first = runv('image', 'build', '--images-dir', images);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stderr, /kernel: extracting vmlinux from \/boot\/vmlinuz-/);
      assert.match(first.stderr, /modules: \d+ \(.*9p.*\)/);
      assert.match(first.stdout, /^image [0-9a-f]{16}: vmlinux [\d.]+ MiB, initrd [\d.]+ MiB \(block: [\d.]+ MiB; \d+ modules\)/);
      const second = runv('image', 'build', '--images-dir', images);
      assert.match(second.stdout, /up to date/);
      assert.equal(fs.readdirSync(images).filter((f) => !f.startsWith('.')).length, 2, 'one image and the current link');
    });
  });

  describe('doctor', () => {
    it('reports each part of the host on its own line and passes on a set-up host', () => {
      const r = runv('doctor');
      assert.equal(r.status, 0, r.stdout + r.stderr);
      for (const part of ['qemu', 'accelerator', 'libvirtd', 'virtlogd', 'guest kernel', 'guest image']) assert.match(r.stdout, new RegExp(`^ok +${part} `, 'm'));
      assert.match(r.stdout, /accelerator +(KVM|TCG)/);
    });

    it('names what is missing with its fix, and fails', () => {
      const r = runv('doctor', '--images-dir', path.join(tmp, 'none'));
      assert.equal(r.status, 1);
      assert.match(r.stdout, /^FAIL guest image .*\(fix: runv image build\)$/m);
    });
  });
});
