import * as fs from 'node:fs';
import * as path from 'node:path';
import { killAndWait } from './leftovers';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** What a client puts outside its private directory because the path is built in. */
export interface HostPaths {
  /** Files and directories, children before parents, such as /run/containerd/s. */
  paths: string[];
  /** Parent cgroups (relative to each hierarchy) that only this client uses: a unique name. */
  ownCgroups: string[];
  /** Parent cgroups every such client on the host shares, children first: `libpod_parent`. */
  sharedCgroups: string[];
}

/**
 * Removes what a client left outside its private directory once it has stopped, and nothing of
 * anyone else's: the host is shared (another podman may be running beside the tests). Records
 * which paths exist before the client starts; a new file goes, a new directory or shared cgroup
 * goes only when empty; a container's cgroup goes, with any process left in it, only when the
 * cgroup is one of the client's own or is named after a container this client created.
 */
export class HostTraces {
  private readonly before: Set<string>;

  constructor(private readonly host: HostPaths) {
    this.before = new Set([...host.paths, ...hierarchies().flatMap((h) => host.sharedCgroups.map((c) => path.join(h, c)))].filter((p) => fs.existsSync(p)));
  }

  /**
   * `containerIds` are those the client created, as it passed them to the runtime. Returns the
   * processes found in their cgroups (a container the runtime failed to delete, after thawing
   * and killing them) and any of those cgroups that would not go.
   */
  async remove(containerIds: string[]): Promise<string[]> {
    const leftovers: string[] = [];
    const own = (relative: string): boolean =>
      this.host.ownCgroups.some((c) => relative === c || relative.startsWith(`${c}/`)) || containerIds.some((id) => path.basename(relative).includes(id));
    const cgroups = hierarchies().flatMap((h) => descendants(h, 3).filter((c) => own(path.relative(h, c))));
    for (const c of cgroups) {
      if (fs.existsSync(path.join(c, 'freezer.state'))) fs.writeFileSync(path.join(c, 'freezer.state'), 'THAWED');
    }
    // A process is in one cgroup of every hierarchy: name it once, by the first.
    const inCgroup = new Map<number, string>();
    for (const c of cgroups) for (const pid of readPids(path.join(c, 'cgroup.procs'))) if (!inCgroup.has(pid)) inCgroup.set(pid, c);
    for (const [pid, c] of inCgroup) leftovers.push(`process ${pid} (${comm(pid)}) in cgroup ${c}`);
    await killAndWait([...inCgroup.keys()]);
    for (const c of [...new Set(cgroups)].sort((a, b) => b.length - a.length)) {
      try {
        fs.rmdirSync(c);
      } catch (e) {
        leftovers.push(`cgroup ${c}: ${(e as Error).message}`);
      }
    }
    const shared = hierarchies().flatMap((h) => this.host.sharedCgroups.map((c) => path.join(h, c)));
    for (const p of [...shared, ...this.host.paths].filter((p) => !this.before.has(p))) removeIfEmpty(p);
    return leftovers;
  }
}

function removeIfEmpty(p: string): void {
  try {
    if (fs.lstatSync(p).isDirectory()) fs.rmdirSync(p);
    else fs.unlinkSync(p);
  } catch {
    // Gone already, or someone else's content is in it now.
  }
}

function hierarchies(): string[] {
  return fs.readdirSync(CGROUP_ROOT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(CGROUP_ROOT, e.name));
}

/** Every cgroup under `cgroup`, down to `depth` levels, parents before children. */
function descendants(cgroup: string, depth: number): string[] {
  if (depth === 0) return [];
  const children = fs.readdirSync(cgroup, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(cgroup, e.name));
  return children.flatMap((c) => [c, ...descendants(c, depth - 1)]);
}

function readPids(file: string): number[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
