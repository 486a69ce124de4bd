import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateContainerId } from '../core/container-id';
import { RunvError } from '../core/errors';
import { SandboxModel } from '../core/model';
import { OciSpec } from '../oci/spec';
import { specToSandbox, TranslateOptions } from '../oci/to-sandbox';
import { parseSpec } from '../oci/validate';

export interface Bundle {
  dir: string;
  spec: OciSpec;
  rootfs: string;
}

/** Reads and checks a bundle directory: config.json valid, rootfs there (what kind is the storage driver's to check). */
export function loadBundle(bundleDir: string): Bundle {
  const dir = path.resolve(bundleDir);
  if (!isDirectory(dir)) throw new RunvError('not-found', `bundle ${dir} does not exist or is not a directory`);
  const configPath = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RunvError('not-found', `bundle ${dir} has no config.json (create one with: runv spec --bundle ${dir})`);
    throw new RunvError('invalid-argument', `cannot read ${configPath}: ${code ?? (error as Error).message}`);
  }
  const spec = parseSpec(text);
  const rootfs = path.resolve(dir, spec.root.path);
  if (!fs.existsSync(rootfs)) throw new RunvError('not-found', `config.json: root.path: ${rootfs} does not exist`);
  return { dir, spec, rootfs };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Everything that can be checked before a VM exists, so bad input creates nothing: the id, the
 * bundle, and its spec translated into the sandbox model. `terminal` overrides process.terminal.
 */
export function sandboxFromBundle(id: string, bundleDir: string, options: Omit<TranslateOptions, 'id' | 'bundle'>): SandboxModel {
  validateContainerId(id);
  const bundle = loadBundle(bundleDir);
  return specToSandbox(bundle.spec, { id, bundle: bundle.dir, ...options });
}
