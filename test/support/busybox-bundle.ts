import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSpec } from '../../src/oci/default-spec';
import { OciSpec } from '../../src/oci/spec';

export type Spec = ReturnType<typeof defaultSpec>;

/** The busybox rootfs every bundle shares: made once per test run, like an image layer. */
export function busyboxRootfs(dir: string): string {
  const rootfs = path.join(dir, 'rootfs');
  if (fs.existsSync(path.join(rootfs, 'bin', 'sh'))) return rootfs;
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'etc', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.mkdirSync(path.join(rootfs, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  // Relative links: busybox --install -s would point them at host paths.
  for (const applet of applets) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  return rootfs;
}

/** A bundle directory with its own config.json, its rootfs a copy-free link to the shared one. */
export function makeBundle(dir: string, rootfs: string, edit: (spec: Spec) => void): string {
  fs.mkdirSync(dir, { recursive: true });
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: false };
  edit(spec);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec as OciSpec, null, 2));
  return dir;
}
