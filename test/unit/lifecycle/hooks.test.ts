import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Hook } from '../../../src/core/model';
import { runHostHooks, runHostHooksWarning } from '../../../src/lifecycle/hooks';
import { OciState } from '../../../src/lifecycle/oci-state';

/** Host hooks are real programs (/bin/sh) run by the real runner. */
describe('host hooks', () => {
  const state: OciState = { ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 4321, bundle: '/b', rootfs: '/b/rootfs', created: '2026-01-01T00:00:00Z', owner: '' };
  let dir: string;
  const hook = (script: string, extra: Partial<Hook> = {}): Hook => ({ path: '/bin/sh', args: ['sh', '-c', script], env: [`D=${dir}`], ...extra });
  const read = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');

  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-hooks-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the hooks in order, each with the state JSON on stdin, its argv and only its env', async () => {
    const script = 'cat > "$D/state"; echo "$(tr "\\0" "\\n" < /proc/$$/cmdline | head -1) $0 ${HOME-unset}" >> "$D/order"';
    await runHostHooks('createRuntime', [hook(script, { args: ['first', '-c', script, 'arg1'] }), hook('echo second >> "$D/order"')], state);
    assert.deepEqual(JSON.parse(read('state')), state);
    assert.equal(read('order'), 'first arg1 unset\nsecond\n');
  });

  it('fails on the first hook that fails, naming the step, the hook, its status and what it said', async () => {
    const failing = hook('echo noise >&2; echo "the real reason" >&2; exit 3');
    await assert.rejects(runHostHooks('prestart', [failing, hook('touch "$D/later"')], state), {
      code: 'hook',
      message: 'prestart hook /bin/sh exited with status 3: the real reason',
    });
    assert.ok(!fs.existsSync(path.join(dir, 'later')), 'a later hook must not run');
  });

  it('kills a hook that outlives its timeout', async () => {
    const started = Date.now();
    await assert.rejects(runHostHooks('createContainer', [hook('sleep 30', { timeoutSeconds: 1 })], state), { message: 'createContainer hook /bin/sh timed out after 1 s' });
    assert.ok(Date.now() - started < 5000);
  });

  it('says when a hook cannot be run at all', async () => {
    await assert.rejects(runHostHooks('prestart', [{ path: '/no/such/hook', args: ['hook'], env: [] }], state), { message: 'prestart hook /no/such/hook cannot be run: ENOENT' });
  });

  it('is no failure for a hook to ignore its stdin', async () => {
    await runHostHooks('prestart', [hook('exit 0')], { ...state, annotations: { big: 'x'.repeat(1 << 20) } });
  });

  it('turns failures into warnings for the steps that only log them, and runs every hook', async () => {
    const warnings = await runHostHooksWarning('poststop', [hook('exit 1'), hook('touch "$D/ran"'), hook('kill -9 $$')], state);
    assert.deepEqual(warnings, ['poststop hook /bin/sh exited with status 1', 'poststop hook /bin/sh was killed by SIGKILL']);
    assert.ok(fs.existsSync(path.join(dir, 'ran')));
  });
});
