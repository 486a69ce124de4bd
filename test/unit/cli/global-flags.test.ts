import assert from 'node:assert/strict';
import { hoistGlobalFlags, protectExecArgs, VALUE_FLAGS } from '../../../src/cli/global-flags';
import { RunvCommand } from '../../../src/cli/runv-command';

describe('global flags before the command (runc style)', () => {
  it('moves value and boolean flags behind the command id', () => {
    assert.deepEqual(hoistGlobalFlags(['--root', '/r', '--debug', 'state', 'c1']), ['state', '--root', '/r', '--debug', 'c1']);
  });
  it('keeps --flag=value forms whole', () => {
    assert.deepEqual(hoistGlobalFlags(['--log-format=json', 'delete', 'c1']), ['delete', '--log-format=json', 'c1']);
  });
  it('treats a topic and its command as one id', () => {
    assert.deepEqual(hoistGlobalFlags(['--images-dir', '/i', 'image', 'build', '--force']), ['image', 'build', '--images-dir', '/i', '--force']);
  });
  it('leaves argv alone when flags already follow the command', () => {
    assert.deepEqual(hoistGlobalFlags(['run', '--bundle', 'b', 'c1']), ['run', '--bundle', 'b', 'c1']);
  });
  it('does not move anything after --', () => {
    assert.deepEqual(hoistGlobalFlags(['--', 'run']), ['--', 'run']);
  });
});

describe('the global flags that take a value', () => {
  it('are exactly the option flags of RunvCommand', () => {
    const options = Object.entries(RunvCommand.baseFlags).filter(([, flag]) => flag.type === 'option').map(([name]) => `--${name}`);
    assert.deepEqual([...VALUE_FLAGS].sort(), options.sort());
  });
});

describe('exec arguments after the container id (runc style)', () => {
  it("keeps the command's own flags from being read as runv's", () => {
    assert.deepEqual(protectExecArgs(['exec', '-e', 'A=1', 'c1', 'sh', '-c', 'echo hi']), ['exec', '-e', 'A=1', 'c1', '--', 'sh', '-c', 'echo hi']);
  });
  it('leaves an exec with --process and no command alone', () => {
    assert.deepEqual(protectExecArgs(['exec', '--process', 'p.json', '--detach', 'c1']), ['exec', '--process', 'p.json', '--detach', 'c1']);
  });
  it('leaves an existing -- and other commands alone', () => {
    assert.deepEqual(protectExecArgs(['exec', 'c1', '--', 'ls']), ['exec', 'c1', '--', 'ls']);
    assert.deepEqual(protectExecArgs(['run', 'c1', 'sh', '-c']), ['run', 'c1', 'sh', '-c']);
  });
});
