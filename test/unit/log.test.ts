import assert from 'node:assert/strict';
import { StderrLogger } from '../../src/log/stderr-logger';

describe('debug log', () => {
  it('writes one line per event with elapsed time, subsystem and fields', () => {
    const lines: string[] = [];
    new StderrLogger((line) => lines.push(line)).debug('hypervisor', 'domain started', { id: 'c1', vcpus: 2 });
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^runv: debug \+\d+\.\d{3}s \[hypervisor\] domain started id=c1 vcpus=2\n$/);
  });
});
