import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The built CLI as users run it, with a test file's own global flags in front of every command. */
export const RUNV = path.join(__dirname, '../../bin/run.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runvWith(globalFlags: string[]): (args: string[]) => Promise<CliResult> {
  return (args) => {
    const child = spawn(RUNV, [...globalFlags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })));
  };
}

/** `runv create` leaves a shim holding its stdio: waits for create's exit, not for its pipes to close. */
export function createWith(globalFlags: string[]): (args: string[]) => Promise<CliResult> {
  return (args) => {
    const errors = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'runv-create-')), 'stderr');
    const fd = fs.openSync(errors, 'w');
    const child = spawn(RUNV, [...globalFlags, 'create', ...args], { stdio: ['ignore', 'ignore', fd] });
    fs.closeSync(fd);
    return new Promise((resolve) =>
      child.on('exit', (status) => {
        const stderr = fs.readFileSync(errors, 'utf8');
        fs.rmSync(path.dirname(errors), { recursive: true, force: true });
        resolve({ status, stdout: '', stderr });
      }),
    );
  };
}

export function assertOneLineError(result: CliResult, pattern: RegExp): void {
  assert.notEqual(result.status, 0, `expected a failure, got: ${result.stdout}`);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  assert.match(result.stderr, pattern);
}
