import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject, injectable } from 'inversify';
import { AgentClient } from '../agent/agent-client';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { SandboxModel } from '../core/model';
import { Hypervisor } from '../core/ports';
import { domainName, LXC_AGENT_SOCKET, LXC_GUEST_INIT, sandboxToLxcDomain } from '../hypervisor/domain-model';
import { buildLxcDomainXml } from '../hypervisor/domain-xml';
import { lxcContainer } from '../storage/storage-plan';
import { CleanupStack } from './cleanup-stack';
import { awaitGuest, createOwnedDomain, lastLine, readTemplate, shutDown } from './launch-support';
import { PACKAGE_ROOT, RuntimeConfig } from './runtime-config';
import type { RunningSandbox } from './sandbox-launcher';
import { sandboxPaths } from './sandbox-paths';
import { inUse } from './state-dir';

const TEMPLATE_FILE = 'lxc.xml';
/** The package's static guest-init, the one `runv image build` puts in VM images. */
const GUEST_INIT = path.join(PACKAGE_ROOT, 'guest-init', 'build', 'guest-init');
/** libvirt_lxc's own log: why a container could not start (guest-init's stderr is the domain's console). */
const LXC_LOG_DIR = '/var/log/libvirt/lxc';

/**
 * The lxc driver: no VM. libvirt's LXC driver starts guest-init as the container's init, with
 * the rootfs as `/`; guest-init connects to a socket runv listens on and from then on serves
 * runv's protocol as it does in a VM (docs/design.md, Drivers).
 */
@injectable()
export class LxcLauncher {
  constructor(
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(Logger) private readonly log: Logger,
  ) {}

  /** The domain XML, its paths as seen through `hostView` (domain-model.ts, LxcHostParts). */
  domainXml(sandbox: SandboxModel, hostView: string): Promise<string> {
    const templateFile = path.join(this.config.templateDir, TEMPLATE_FILE);
    const runvDir = sandboxPaths(this.config, sandbox.id).lxcDir;
    const model = sandboxToLxcDomain(sandbox, { root: this.config.root, runvDir, hostView });
    return buildLxcDomainXml(readTemplate(templateFile), templateFile, model);
  }

  /** Starts the container's domain and waits for guest-init; `aborted` stops it, cleaning up. */
  async launch(sandbox: SandboxModel, aborted?: AbortSignal): Promise<RunningSandbox> {
    // libvirt's LXC driver makes the container's network namespace itself; it cannot enter the caller's.
    if (sandbox.networkNamespace) throw new RunvError('invalid-argument', `the lxc driver cannot put a container in an existing network namespace (${sandbox.networkNamespace}): use a VM driver`);
    const name = domainName(sandbox.id);
    const dir = sandboxPaths(this.config, sandbox.id).lxcDir;
    // Through runv's own view: the LXC-only libvirtd has a mount namespace of its own.
    const xml = await this.domainXml(sandbox, `/proc/${process.pid}/root`);
    const cleanup = new CleanupStack();
    try {
      if (await this.hypervisor.stateOf(name)) throw inUse(sandbox.id, `libvirt already has a domain ${name}`);
      prepareRunvDir(dir, cleanup);
      const guest = await AgentClient.listen(path.join(dir, LXC_AGENT_SOCKET));
      cleanup.push('stop listening for guest-init', () => guest.close());
      await createOwnedDomain(this.hypervisor, sandbox.id, name, xml, cleanup);
      this.log.debug('hypervisor', 'LXC domain started', { id: sandbox.id, domain: name });
      const watch = { hypervisor: this.hypervisor, name, timeoutMs: this.config.bootTimeoutMs, stopped: 'the container stopped while starting', failure: (what: string) => startFailure(what, name), aborted };
      const agent = await awaitGuest(guest.accepted, watch, (a) => cleanup.push('close agent channel', () => a.close()));
      this.log.debug('agent', 'guest-init answered', { id: sandbox.id });
      const teardown = (): Promise<void> => shutDown(this.hypervisor, agent, name, cleanup, this.log);
      return { agent, container: lxcContainer(sandbox), domain: name, consoleLog: sandboxPaths(this.config, sandbox.id).consoleLog, teardown };
    } catch (error) {
      this.log.debug('runtime', `start failed, cleaning up: ${(error as Error).message}`, { id: sandbox.id });
      await cleanup.run();
      throw error;
    }
  }
}

/** A directory of its own (a stale one of this id goes first) with a copy of guest-init: the domain binds it read-only. */
function prepareRunvDir(dir: string, cleanup: CleanupStack): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  cleanup.push('remove the LXC runv directory', () => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    // A copy, not the build output itself: a rebuild must not change a running container's init.
    fs.copyFileSync(GUEST_INIT, path.join(dir, LXC_GUEST_INIT));
  } catch (error) {
    throw new RunvError('not-found', `guest-init ${GUEST_INIT}: ${(error as Error).message} (build it with \`make -C guest-init\`)`);
  }
}


/** Names the failure and quotes libvirt_lxc's last log line, where a failed start says why. */
function startFailure(what: string, name: string): RunvError {
  const last = lastLine(path.join(LXC_LOG_DIR, `${name}.log`));
  return new RunvError('guest', last ? `${what}; libvirt_lxc: ${last}` : what);
}
