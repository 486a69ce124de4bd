import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { AgentClient, AgentError } from '../agent/agent-client';
import { Logger } from '../core/logger';
import { Hypervisor } from '../core/ports';
import { CleanupStack } from './cleanup-stack';
import { inUse } from './state-dir';

/** What a VM launch and an LXC launch share: templates, starting a domain that is ours, waiting. */

export function readTemplate(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RunvError('not-found', `template ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (error as Error).message}`);
  }
}

/** One template per driver, `<driver>.xml` in the templates directory, which operators own. */
export function driverTemplate(templateDir: string, driver: string): { template: string; templateFile: string } {
  const templateFile = path.join(templateDir, `${driver}.xml`);
  return { template: readTemplate(templateFile), templateFile };
}

/**
 * Starts the transient domain and leaves its destroy on `cleanup`, before the create: libvirt may
 * fail after the domain started, and destroying nothing is harmless. Unless the name was taken
 * meanwhile (another --root, same id): that domain is not ours.
 */
export async function createOwnedDomain(hypervisor: Hypervisor, id: string, name: string, xml: string, cleanup: CleanupStack): Promise<void> {
  let ours = true;
  cleanup.push('destroy domain', () => (ours ? hypervisor.destroy(name) : undefined));
  await hypervisor.createTransient(xml).catch((error: Error) => {
    if (/already exists/i.test(error.message)) {
      ours = false;
      throw inUse(id, `libvirt already has a domain ${name}`);
    }
    throw error;
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const WATCH_INTERVAL_MS = 250;
const GONE_POLL_MS = 20;
const SHUTDOWN_GRACE_MS = 3000;
/** After guest-init acknowledged SHUTDOWN, the VM powers off (the LXC init exits) within milliseconds. */
const POWEROFF_WAIT_MS = 1000;

export interface StartWatch {
  hypervisor: Hypervisor;
  name: string;
  timeoutMs: number;
  /** What to say when the domain stops before guest-init answered. */
  stopped: string;
  /** Turns what happened into the error to report, with what the domain logged. */
  failure: (what: string) => RunvError;
  aborted?: AbortSignal;
}

/**
 * Aborts while a domain starts: when it stops, when the time is up, or when the user aborts.
 * Call `stop` once the guest answered.
 */
export function watchStart(w: StartWatch): { signal: AbortSignal; stop: () => void } {
  const failed = new AbortController();
  const deadline = Date.now() + w.timeoutMs;
  const watch = setInterval(() => {
    if (Date.now() > deadline) failed.abort(w.failure(`guest-init did not answer within ${w.timeoutMs / 1000} s`));
    w.hypervisor.stateOf(w.name).then(
      (state) => (state === undefined || state === 'shutoff' || state === 'crashed' ? failed.abort(w.failure(w.stopped)) : undefined),
      (error) => failed.abort(error),
    );
  }, WATCH_INTERVAL_MS);
  return { signal: w.aborted ? AbortSignal.any([failed.signal, w.aborted]) : failed.signal, stop: () => clearInterval(watch) };
}

/**
 * Waits for guest-init: for its channel (`connected`; `onAgent` takes it first, to close it on
 * cleanup), then for its answer to hello (a probe's, for a pool VM), failing fast as `watch` says.
 */
export async function awaitGuest(connected: Promise<AgentClient>, watch: StartWatch, onAgent: (agent: AgentClient) => void, probe = false): Promise<AgentClient> {
  const { signal, stop } = watchStart(watch);
  try {
    const agent = await untilAborted(connected, signal);
    onAgent(agent);
    await agent.hello(signal, probe);
    return agent;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof AgentError) throw error;
    // The channel usually closes before the watch sees the domain gone: say what happened.
    throw watch.failure(watch.stopped);
  } finally {
    stop();
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Stops a sandbox: a clean SHUTDOWN lets guest-init sync the rootfs and end the domain; the
 * cleanup's destroy follows either way, then everything else made for it goes.
 */
export async function shutDown(hypervisor: Hypervisor, agent: AgentClient, name: string, cleanup: CleanupStack, log: Logger): Promise<void> {
  const clean = await withTimeout(agent.shutdown().then(() => true, () => false), SHUTDOWN_GRACE_MS, false);
  log.debug('runtime', clean ? 'guest shut down' : 'guest did not shut down: destroying', { domain: name });
  // libvirt's destroy of a QEMU that is still exiting polls in 200 ms steps; one that is gone costs nothing.
  if (clean) await waitUntilGone(hypervisor, name, POWEROFF_WAIT_MS);
  const failures = await cleanup.run();
  log.debug('runtime', 'sandbox removed', { domain: name });
  if (failures.length) throw new RunvError('internal', failures.map((f) => f.message).join('; '));
}

async function waitUntilGone(hypervisor: Hypervisor, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && (await hypervisor.stateOf(name).catch(() => undefined)) !== undefined) await delay(GONE_POLL_MS);
}

/** The last non-empty line of a log, where the guest (or libvirt) says why it stopped. */
export function lastLine(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean).pop();
  } catch {
    return undefined;
  }
}
