import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { buildBusyboxImage, BusyboxImage } from '../support/clients/busybox-image';
import { waitFor } from '../support/clients/command';
import { Podman } from '../support/clients/podman';
import { useClient } from '../support/clients/use-client';

/**
 * podman 4.3 + conmon drive the runtime under test (runv unless RUNV_CLIENT_RUNTIME says
 * otherwise): create/start under conmon, exec, kill, pause/resume, delete, and buildah's RUN.
 */
describe('podman', function () {
  this.timeout(120_000);
  const podman = useClient(() => Podman.start());
  let image: BusyboxImage;
  let n = 0;
  const name = (): string => `runv-pm-${++n}`;

  before(async () => {
    image = buildBusyboxImage(podman().home.path('image'));
    await podman().importImage(image);
  });

  const status = async (container: string): Promise<string> =>
    (await podman().check(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', container])).stdout.trim();

  const runDetached = async (container: string, ...command: string[]): Promise<void> => {
    await podman().check(['run', '-d', '--name', container, image.ref, ...command]);
  };

  it('run --rm passes the output and the exit code through', async () => {
    const r = await podman().run(['run', '--rm', image.ref, 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, /oops/);
    assert.equal((await podman().check(['ps', '-a', '-q'])).stdout, '', '--rm removed the container');
  });

  // podman derives 127 and 126 from the runtime's error text at create, as it does for runc's.
  it('run of a command that is not in the image exits 127, naming it', async () => {
    const r = await podman().run(['run', '--rm', image.ref, '/no/such/command']);
    assert.equal(r.status, 127, r.stderr);
    assert.match(r.stderr, /\/no\/such\/command/);
  });

  it('run of something that cannot be executed (a directory) exits 126', async () => {
    const r = await podman().run(['run', '--rm', image.ref, '/etc']);
    assert.equal(r.status, 126, r.stderr);
    assert.match(r.stderr, /permission denied/i);
  });

  it('exec runs a second process in a running container, with its output and exit code', async () => {
    const c = name();
    await runDetached(c, 'sleep', '1000');
    assert.equal(await status(c), 'running 0');
    const r = await podman().run(['exec', c, 'sh', '-c', 'echo from exec; tr "\\0" " " < /proc/1/cmdline; echo; exit 5']);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stdout, 'from exec\nsleep 1000 \n', 'exec joins the container whose init is sleep');
  });

  it('exec -it gives the process a terminal and carries what is typed to it', async () => {
    const c = name();
    await runDetached(c, 'sleep', '1000');
    const r = await podman().runInTerminal(['exec', '-it', c, 'sh', '-c', 'tty; read line; echo "got $line"; exit 4'], { input: 'typed\n' });
    assert.equal(r.status, 4, r.stdout);
    // The line typed early is echoed by the pty whenever it arrives, even inside tty's output.
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /got typed\r\n/, 'the terminal turns \\n into \\r\\n');
  });

  it('stop delivers SIGTERM to the container, whose handler decides the exit code; its output is in the logs', async () => {
    const c = name();
    await runDetached(c, 'sh', '-c', 'trap "echo got TERM; exit 0" TERM; echo ready; sleep 1000 & wait');
    await waitFor('the trap to be set', async () => ((await podman().check(['logs', c])).stdout.includes('ready') ? true : undefined));
    const started = Date.now();
    await podman().check(['stop', '--time', '60', c]);
    assert.ok(Date.now() - started < 30_000, 'SIGTERM ended it, not the SIGKILL after 60 s');
    assert.equal(await status(c), 'exited 0');
    assert.equal((await podman().check(['logs', c])).stdout, 'ready\ngot TERM\n');
  });

  it('stop kills with SIGKILL a container that ignores SIGTERM, exit code 137', async () => {
    const c = name();
    // PID 1 of a container has no default action for SIGTERM: sleep ignores it.
    await runDetached(c, 'sleep', '1000');
    await podman().check(['stop', '--time', '1', c]);
    assert.equal(await status(c), 'exited 137');
  });

  it('rm -f removes a running container', async () => {
    const c = name();
    await runDetached(c, 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait');
    await podman().check(['rm', '-f', c]);
    assert.equal((await podman().check(['ps', '-a', '-q'])).stdout, '');
  });

  it('pause freezes every process of a container and unpause thaws them', async () => {
    const c = name();
    await runDetached(c, 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tick; sleep 0.1; done');
    // Read from the host, through podman's mount of the rootfs: a paused container cannot exec.
    const merged = (await podman().check(['inspect', '--format', '{{.GraphDriver.Data.MergedDir}}', c])).stdout.trim();
    const tick = (): string => fs.readFileSync(`${merged}/tick`, 'utf8');
    await waitFor('the loop to start', () => (fs.existsSync(`${merged}/tick`) ? true : undefined));
    await podman().check(['pause', c]);
    assert.equal(await status(c), 'paused 0');
    const frozen = tick();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(tick(), frozen, 'the loop stands still while paused');
    await podman().check(['unpause', c]);
    assert.equal(await status(c), 'running 0');
    await waitFor('the loop to tick again', () => (tick() !== frozen ? true : undefined), 10_000);
  });

  /**
   * A network of the harness's own (its config dir, subnet and bridge), not podman's default;
   * written as podman 4 stores one, since its `network create` cannot name the bridge.
   */
  const ownBridgeNetwork = (network: string, subnet: string): string => {
    fs.writeFileSync(podman().home.path('networks', `${network}.json`), JSON.stringify({
      name: network,
      id: Buffer.from(network).toString('hex').padEnd(64, '0').slice(0, 64),
      driver: 'bridge',
      network_interface: `${network}0`,
      subnets: [{ subnet: `${subnet}.0/24`, gateway: `${subnet}.1` }],
      ipv6_enabled: false,
      internal: false,
      dns_enabled: false,
      ipam_options: { driver: 'host-local' },
    }));
    return network;
  };

  it('publishes a port: -p reaches a server in the container on a bridge network', async () => {
    const network = ownBridgeNetwork('runvtest-pm', '10.216.0');
    const c = name();
    try {
      const serve = 'mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www';
      await podman().check(['run', '-d', '--name', c, '--network', network, '-p', '127.0.0.1:18080:80', image.ref, 'sh', '-c', serve]);
      const body = await waitFor('the published port to answer', () => fetch('http://127.0.0.1:18080/', { signal: AbortSignal.timeout(5000) }).then((r) => r.text(), () => undefined), 90_000);
      assert.equal(body, 'published\n');
    } finally {
      await podman().check(['rm', '-f', '--time', '0', c]);
      await podman().check(['network', 'rm', network]);
    }
  });

  describe('with a warm pool of runv VMs', () => {
    const pool = (...args: string[]): string => execFileSync(podman().home.runtime.path, ['pool', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

    before(function () {
      // Another runtime under test (runc) has no pool.
      if (process.env.RUNV_CLIENT_RUNTIME) this.skip();
    });
    afterEach(() => pool('drain'));

    it('run takes a booted VM, whose NIC becomes the container\'s on a bridge network, and the VM goes with the container', async () => {
      pool('fill', '--size', '1');
      const network = ownBridgeNetwork('runvtest-pmp', '10.218.0');
      try {
        const r = await podman().run(['run', '--rm', '--network', network, image.ref, 'sh', '-c', "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; ping -c 1 -W 10 10.218.0.1 >/dev/null && echo reached"]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^inet 10\.218\.0\.\d+\nreached\n$/);
        assert.deepEqual(JSON.parse(pool('list', '--format', 'json')), [], 'the container took the pool VM, and it went with the container');
      } finally {
        await podman().check(['network', 'rm', network]);
      }
    });
  });

  it('build runs a RUN step of a Containerfile, and the built image has its result', async () => {
    const context = podman().home.path('build-ok');
    fs.mkdirSync(context);
    fs.writeFileSync(`${context}/Containerfile`, `FROM ${image.ref}\nRUN echo built by RUN > /built.txt\n`);
    await podman().check(['build', '--network', 'none', '-t', 'localhost/bb-built', context]);
    const r = await podman().run(['run', '--rm', 'localhost/bb-built', 'cat', '/built.txt']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'built by RUN\n');
  });

  it('build fails when a RUN step fails, naming its exit code', async () => {
    const context = podman().home.path('build-fail');
    fs.mkdirSync(context);
    fs.writeFileSync(`${context}/Containerfile`, `FROM ${image.ref}\nRUN echo failing; exit 3\n`);
    const r = await podman().run(['build', '--network', 'none', '-t', 'localhost/bb-failed', context]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /failing/);
    assert.match(r.stderr, /exit status 3/);
  });
});
