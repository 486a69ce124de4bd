import assert from 'node:assert/strict';
import { buildBusyboxImage, BusyboxImage } from '../support/clients/busybox-image';
import { waitFor } from '../support/clients/command';
import { Dockerd } from '../support/clients/dockerd';
import { useClient } from '../support/clients/use-client';

/**
 * dockerd 20.10 runs the runtime under test (runv unless RUNV_CLIENT_RUNTIME says otherwise),
 * added with --add-runtime and chosen per container with `docker run --runtime`, through its own
 * containerd and the runc shim v2.
 */
describe('docker', function () {
  this.timeout(120_000);
  const dockerd = useClient(() => Dockerd.start());
  let image: BusyboxImage;
  let n = 0;
  const name = (): string => `runv-docker-${++n}`;

  before(async () => {
    image = buildBusyboxImage(dockerd().home.path('image'));
    await dockerd().loadImage(image);
  });

  /** `docker run` on the runtime under test; no network: dockerd runs with --bridge=none. */
  const runFlags = (): string[] => ['--runtime', dockerd().home.runtime.name, '--network', 'none'];

  const status = async (container: string): Promise<string> =>
    (await dockerd().checkDocker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', container])).stdout.trim();

  const runDetached = async (container: string, ...command: string[]): Promise<void> => {
    await dockerd().checkDocker(['run', '-d', ...runFlags(), '--name', container, image.ref, ...command]);
  };

  it('run --runtime passes the output and the exit code through', async () => {
    const r = await dockerd().docker(['run', '--rm', ...runFlags(), image.ref, 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, /oops/);
  });

  // dockerd derives 127 and 126 from the error of the task's create, as it does for runc's.
  it('run of a command that is not in the image exits 127, naming it', async () => {
    const r = await dockerd().docker(['run', '--rm', ...runFlags(), image.ref, '/no/such/command']);
    assert.equal(r.status, 127, r.stderr);
    assert.match(r.stderr, /\/no\/such\/command/);
  });

  it('run of something that cannot be executed (a directory) exits 126', async () => {
    const r = await dockerd().docker(['run', '--rm', ...runFlags(), image.ref, '/etc']);
    assert.equal(r.status, 126, r.stderr);
    assert.match(r.stderr, /permission denied/i);
  });

  it('run -it gives the container a terminal', async () => {
    const r = await dockerd().dockerInTerminal(['run', '--rm', '-it', ...runFlags(), image.ref, 'sh', '-c', 'tty; read line; echo "got $line"; exit 2'], { input: 'typed\n' });
    assert.equal(r.status, 2, r.stdout);
    assert.match(r.stdout, /\/dev\/pts\/\d+\r\n/);
    assert.match(r.stdout, /got typed\r\n/);
  });

  it('exec runs a second process in a running container, with its output and exit code', async () => {
    const c = name();
    await runDetached(c, 'sleep', '1000');
    const r = await dockerd().docker(['exec', c, 'sh', '-c', 'echo from exec; tr "\\0" " " < /proc/1/cmdline; echo; exit 5']);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stdout, 'from exec\nsleep 1000 \n', 'exec joins the container whose init is sleep');
  });

  it('exec -it gives the process a terminal and carries what is typed to it', async () => {
    const c = name();
    await runDetached(c, 'sleep', '1000');
    const r = await dockerd().dockerInTerminal(['exec', '-it', c, 'sh', '-c', 'tty; read line; echo "got $line"; exit 4'], { input: 'typed\n' });
    assert.equal(r.status, 4, r.stdout);
    assert.match(r.stdout, /\/dev\/pts\/\d+\r\n/);
    assert.match(r.stdout, /got typed\r\n/);
  });

  it('stop delivers SIGTERM to the container, whose handler decides the exit code; its output is in the logs', async () => {
    const c = name();
    await runDetached(c, 'sh', '-c', 'trap "echo got TERM; exit 0" TERM; echo ready; sleep 1000 & wait');
    await waitFor('the trap to be set', async () => ((await dockerd().checkDocker(['logs', c])).stdout.includes('ready') ? true : undefined));
    const started = Date.now();
    await dockerd().checkDocker(['stop', '--time', '60', c]);
    assert.ok(Date.now() - started < 30_000, 'SIGTERM ended it, not the SIGKILL after 60 s');
    assert.equal(await status(c), 'exited 0');
    assert.equal((await dockerd().checkDocker(['logs', c])).stdout, 'ready\ngot TERM\n');
  });

  it('stop kills with SIGKILL a container that ignores SIGTERM, exit code 137', async () => {
    const c = name();
    // PID 1 of a container has no default action for SIGTERM: sleep ignores it.
    await runDetached(c, 'sleep', '1000');
    await dockerd().checkDocker(['stop', '--time', '1', c]);
    assert.equal(await status(c), 'exited 137');
  });
});
