import * as fs from 'node:fs';
import { BusyboxImage } from './busybox-image';
import { ClientHome } from './client-home';
import { check, Result, run, RunOptions, Running, runInTerminal } from './command';
import { Runtime, runtimeUnderTest } from './runtime-under-test';
import { Client } from './use-client';

/**
 * podman (with conmon) as root, on storage, state and config of its own. It needs no daemon:
 * each command is a process that runs conmon, which runs the runtime.
 */
export class Podman implements Client {
  private constructor(readonly home: ClientHome) {}

  static async start(runtime: Runtime = runtimeUnderTest()): Promise<Podman> {
    // Built-in paths podman 4.3 uses whatever its flags say: the blob-info cache, the network
    // run dir, and the cgroups of conmon and of the containers under cgroupfs.
    const home = ClientHome.create('podman', runtime, {
      paths: ['/var/lib/containers/cache/blob-info-cache-v1.boltdb', '/var/lib/containers/cache', '/var/lib/containers', '/run/containers/networks', '/run/containers'],
      ownCgroups: [],
      sharedCgroups: ['libpod_parent/conmon', 'libpod_parent'],
    });
    const conf = [
      '[containers]',
      // This host's hard limit on open files is lower than podman's default (1048576), and
      // without CAP_SYS_RESOURCE the runtime could not raise it.
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      'netns = "none"',
      '[engine]',
      `events_logfile_path = ${JSON.stringify(home.path('events.log'))}`,
      '[engine.runtimes]',
      `${runtime.name} = [${JSON.stringify(home.recorder.wrapper)}]`,
      '',
    ].join('\n');
    fs.writeFileSync(home.path('containers.conf'), conf);
    fs.mkdirSync(home.path('tmp'));
    const podman = new Podman(home);
    await podman.check(['version']);
    return podman;
  }

  /** podman with this harness's private dirs and the runtime under test, as a user would call it. */
  run(args: string[], options: RunOptions = {}): Running {
    return run('podman', this.argv(args), { ...options, env: this.env() });
  }

  check(args: string[], options: RunOptions = {}): Promise<Result> {
    return check('podman', this.argv(args), { ...options, env: this.env() });
  }

  /** With a terminal of its own, for `-t` (see runInTerminal). */
  runInTerminal(args: string[], options: RunOptions = {}): Running {
    return runInTerminal('podman', this.argv(args), { ...options, env: this.env() });
  }

  async importImage(image: BusyboxImage): Promise<void> {
    await this.check(['import', image.rootfsTar, image.ref]);
  }

  async removeAllContainers(): Promise<void> {
    await this.check(['rm', '--all', '--force', '--time', '0']);
    // --external: also what a `podman build` left, which plain `ps -a` does not show.
    const left = (await this.check(['ps', '--all', '--external', '--format', '{{.ID}} {{.Names}} {{.Status}}'])).stdout.trim();
    if (left) throw new Error(`podman still lists containers after rm --all --force:\n${left}`);
  }

  logTail(): string {
    const events = this.home.path('events.log');
    return fs.existsSync(events) ? fs.readFileSync(events, 'utf8').trimEnd().split('\n').slice(-20).join('\n') : '(no events)';
  }

  async stop(): Promise<void> {
    try {
      await this.check(['rmi', '--all', '--force']);
    } finally {
      await this.home.cleanUp();
    }
  }

  private argv(args: string[]): string[] {
    return [
      '--root', this.home.path('root'),
      '--runroot', this.home.path('runroot'),
      '--tmpdir', this.home.path('libpod'),
      '--network-config-dir', this.home.path('networks'),
      '--volumepath', this.home.path('volumes'),
      '--storage-driver', 'overlay',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      '--runtime', this.home.runtime.name,
      ...args,
    ];
  }

  private env(): NodeJS.ProcessEnv {
    // TMPDIR: where buildah puts a RUN step's bundle and conmon its console socket.
    return { ...process.env, CONTAINERS_CONF: this.home.path('containers.conf'), TMPDIR: this.home.path('tmp') };
  }
}
