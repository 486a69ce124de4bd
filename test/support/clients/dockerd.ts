import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { assertRuntimeRootEmpty } from './leftovers';
import { BusyboxImage } from './busybox-image';
import { ClientHome } from './client-home';
import { check, Result, run, RunOptions, Running, runInTerminal } from './command';
import { Daemon } from './daemon';
import { Runtime, runtimeUnderTest } from './runtime-under-test';
import { Client } from './use-client';

/** Debian's docker.io 20.10 client: /usr/local/bin may hold a newer `docker` that speaks another API. */
const DOCKER = '/usr/bin/docker';

/**
 * dockerd 20.10 with data, exec root, socket and config of its own, no iptables and no bridge,
 * and the runtime under test added by name (`--add-runtime`). dockerd runs its own containerd,
 * whose runc shim v2 runs the runtime.
 */
export class Dockerd implements Client {
  private constructor(
    readonly home: ClientHome,
    private readonly daemon: Daemon,
  ) {}

  static async start(runtime: Runtime = runtimeUnderTest()): Promise<Dockerd> {
    // Its own parent cgroup for containers, instead of the /docker a dockerd of the host uses.
    const cgroupParent = `runv-test-${crypto.randomBytes(3).toString('hex')}`;
    // Built in whatever the flags say: plugin discovery (/run/docker) and its containerd's shim
    // sockets (/run/containerd/s).
    const home = ClientHome.create('docker', runtime, {
      paths: ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd'],
      ownCgroups: [cgroupParent],
      sharedCgroups: [],
    });
    // An empty config of its own, so /etc/docker/daemon.json cannot change what is tested; the
    // key dockerd 20.10 makes on first start goes here too, not in /etc/docker.
    fs.writeFileSync(home.path('daemon.json'), JSON.stringify({ 'deprecated-key-path': home.path('key.json') }));
    const args = [
      '--config-file', home.path('daemon.json'),
      '--data-root', home.path('data'),
      '--exec-root', home.path('exec'),
      '--pidfile', home.path('docker.pid'),
      '-H', `unix://${home.path('docker.sock')}`,
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
      '--userland-proxy=false',
      '--cgroup-parent', cgroupParent,
      '--add-runtime', `${runtime.name}=${home.recorder.wrapper}`,
    ];
    const answers = (): Promise<boolean> => run(DOCKER, ['version'], { env: clientEnv(home), timeoutMs: 5_000 }).then((r) => r.status === 0);
    try {
      const daemon = await Daemon.start('dockerd', 'dockerd', args, home.path('dockerd.log'), answers);
      return new Dockerd(home, daemon);
    } catch (e) {
      await home.cleanUp().catch(() => undefined);
      throw e;
    }
  }

  /** Where dockerd's runc shim tells the runtime to keep its state (`--root`). */
  get runtimeRoot(): string {
    return this.home.path('exec', 'runtime-runc', 'moby');
  }

  docker(args: string[], options: RunOptions = {}): Running {
    return run(DOCKER, args, { ...options, env: clientEnv(this.home) });
  }

  checkDocker(args: string[], options: RunOptions = {}): Promise<Result> {
    return check(DOCKER, args, { ...options, env: clientEnv(this.home) });
  }

  dockerInTerminal(args: string[], options: RunOptions = {}): Running {
    return runInTerminal(DOCKER, args, { ...options, env: clientEnv(this.home) });
  }

  async loadImage(image: BusyboxImage): Promise<void> {
    await this.checkDocker(['load', '--input', image.dockerArchive]);
  }

  async removeAllContainers(): Promise<void> {
    const ids = (await this.checkDocker(['ps', '--all', '--quiet'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await this.checkDocker(['rm', '--force', ...ids]);
    const left = (await this.checkDocker(['ps', '--all', '--quiet'])).stdout.trim();
    if (left) throw new Error(`docker still lists containers after rm --force: ${left}`);
    assertRuntimeRootEmpty(this.runtimeRoot);
  }

  logTail(): string {
    return this.daemon.logTail();
  }

  async stop(): Promise<void> {
    try {
      await this.daemon.stop();
    } finally {
      await this.home.cleanUp();
    }
  }
}

/** The docker CLI pointed at this dockerd, its own config dir instead of ~/.docker. */
function clientEnv(home: ClientHome): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: `unix://${home.path('docker.sock')}`, DOCKER_CONFIG: home.path('cli') };
}
