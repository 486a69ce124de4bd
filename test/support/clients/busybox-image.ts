import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { busyboxRootfs } from '../busybox-bundle';

/**
 * A one-layer busybox image made from test/support/busybox-bundle's rootfs, in the forms the
 * clients take without a registry: the rootfs itself (`ctr run --rootfs`), a tar of it
 * (`podman import`) and a docker-archive, the format of `docker save` (`docker load`,
 * `ctr image import`).
 */
export interface BusyboxImage {
  /** What the clients call it once imported or loaded. */
  ref: string;
  rootfs: string;
  rootfsTar: string;
  dockerArchive: string;
}

export const BUSYBOX_REF = 'localhost/bb:latest';

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function buildBusyboxImage(dir: string): BusyboxImage {
  fs.mkdirSync(dir, { recursive: true });
  const rootfs = busyboxRootfs(dir);
  const rootfsTar = path.join(dir, 'rootfs.tar');
  execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', rootfsTar, '.']);

  const archiveDir = path.join(dir, 'docker-archive');
  const layerDigest = sha256(fs.readFileSync(rootfsTar));
  fs.mkdirSync(path.join(archiveDir, layerDigest), { recursive: true });
  fs.copyFileSync(rootfsTar, path.join(archiveDir, layerDigest, 'layer.tar'));
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: [PATH], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
  });
  const configDigest = sha256(Buffer.from(config));
  fs.writeFileSync(path.join(archiveDir, `${configDigest}.json`), config);
  const manifest = [{ Config: `${configDigest}.json`, RepoTags: [BUSYBOX_REF], Layers: [`${layerDigest}/layer.tar`] }];
  fs.writeFileSync(path.join(archiveDir, 'manifest.json'), JSON.stringify(manifest));
  const dockerArchive = path.join(dir, 'docker-archive.tar');
  execFileSync('tar', ['--numeric-owner', '-C', archiveDir, '-cf', dockerArchive, 'manifest.json', `${configDigest}.json`, `${layerDigest}/layer.tar`]);
  fs.rmSync(archiveDir, { recursive: true });

  return { ref: BUSYBOX_REF, rootfs, rootfsTar, dockerArchive };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
