/**
 * `runv state` and `runv --version` without oclif: containerd and buildah call the runtime's
 * state over and over, and loading the CLI framework would triple its cost. Only the modules
 * these two need are loaded here. A plain foreground `run` too (fast-run.ts), for its start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { OCI_VERSION, toOciState } from '../lifecycle/oci-state';
import { StateStore } from '../lifecycle/state-store';
import { DEFAULT_ROOT, PACKAGE_ROOT } from '../runtime/runtime-config';
import { appendErrorLog } from './error-log';
import { VALUE_FLAGS } from './global-flags';

const BOOLEAN_FLAGS = new Set(['--debug', '--systemd-cgroup']);

/** Handles argv (global flags already after the command) if it is one of the fast commands; false otherwise. */
export function runFastPath(argv: string[]): boolean {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    printVersion();
    return true;
  }
  if (argv[0] === 'run') return runFast(argv);
  if (argv[0] !== 'state') return false;
  const parsed = parseFlags(argv.slice(1));
  if (!parsed || parsed.positional.length !== 1) return false;
  const root = parsed.values.get('--root') ?? DEFAULT_ROOT;
  try {
    const record = new StateStore({ root: path.resolve(root) }).read(parsed.positional[0]);
    process.stdout.write(JSON.stringify(toOciState(record), null, 2) + '\n');
  } catch (error) {
    if (!(error instanceof RunvError)) throw error;
    process.stderr.write(`runv: ${error.message}\n`);
    appendErrorLog(parsed.values.get('--log'), parsed.values.get('--log-format'), error.message);
    process.exitCode = error.exitCode;
  }
  return true;
}

/** fast-run.ts loads the whole runtime: only for a run, so that `state` stays light. */
function runFast(argv: string[]): boolean {
  require('reflect-metadata');
  const { fastRun, parseFastRun } = require('./fast-run') as typeof import('./fast-run');
  const args = parseFastRun(argv);
  if (!args) return false;
  void fastRun(args);
  return true;
}

function printVersion(): void {
  const { version } = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  process.stdout.write(`runv version ${version}\ncommit: ${buildCommit()}\nspec: ${OCI_VERSION}\n`);
}

/** `npm run build` records the commit it built (dist/COMMIT). */
function buildCommit(): string {
  try {
    return fs.readFileSync(path.join(PACKAGE_ROOT, 'dist', 'COMMIT'), 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** runc-style flags: `--name value`, `--name=value`, or a known boolean; anything else goes to oclif. */
function parseFlags(args: string[]): { values: Map<string, string>; positional: string[] } | undefined {
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('-')) positional.push(arg);
    else if (arg.includes('=')) values.set(arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1));
    else if (VALUE_FLAGS.has(arg) && i + 1 < args.length) values.set(arg, args[++i]);
    else if (!BOOLEAN_FLAGS.has(arg)) return undefined;
  }
  return { values, positional };
}
