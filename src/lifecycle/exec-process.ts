import { RunvError } from '../core/errors';
import { OciProcess } from '../oci/spec';
import { loadBundle } from '../runtime/bundle';

export interface ExecOverrides {
  tty: boolean;
  env?: string[];
  cwd?: string;
  user?: string;
  'additional-gids'?: string[];
  'no-new-privs': boolean;
}

/**
 * The process of `runv exec ID cmd...`, as runc builds it: the container's own process from
 * its config.json, with the command line and the flags in its place.
 */
export function execProcess(bundle: string, args: string[], overrides: ExecOverrides): OciProcess {
  if (args.length === 0) throw new RunvError('invalid-argument', 'exec: give a command to run, or --process FILE');
  const base = loadBundle(bundle).spec.process;
  const user = overrides.user ? parseUser(overrides.user) : (base?.user ?? { uid: 0, gid: 0 });
  return {
    ...base,
    args,
    terminal: overrides.tty,
    env: [...(base?.env ?? []), ...(overrides.env ?? [])],
    cwd: overrides.cwd ?? base?.cwd ?? '/',
    user: { ...user, additionalGids: overrides['additional-gids']?.map((g) => numeric(g, '--additional-gids')) ?? base?.user.additionalGids },
    noNewPrivileges: overrides['no-new-privs'] || base?.noNewPrivileges,
  };
}

function parseUser(text: string): { uid: number; gid: number } {
  const [uid, gid = '0'] = text.split(':');
  return { uid: numeric(uid, '--user'), gid: numeric(gid, '--user') };
}

function numeric(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new RunvError('invalid-argument', `${flag} ${JSON.stringify(text)}: use numeric ids (the guest has no user database to look names up in)`);
  return Number(text);
}
