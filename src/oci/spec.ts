import type { HookKind } from '../core/model';

/** The subset of the OCI runtime-spec (config.json) that runv reads, as the spec names it. */
export interface OciSpec {
  ociVersion: string;
  root: { path: string; readonly?: boolean };
  process?: OciProcess;
  hostname?: string;
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  hooks?: OciHooks;
  linux?: {
    maskedPaths?: string[];
    readonlyPaths?: string[];
    /** A `path` joins an existing namespace (podman's and CNI's netns); without one, a new namespace. */
    namespaces?: { type: string; path?: string }[];
    resources?: {
      memory?: { limit?: number };
      cpu?: { quota?: number; period?: number; cpus?: string };
    };
  };
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd: string;
  rlimits?: { type: string; soft: number; hard: number }[];
  noNewPrivileges?: boolean;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** A program the runtime runs at a lifecycle step, with the container's state JSON on stdin. */
export interface OciHook {
  path: string;
  /** argv, argv[0] included, as execv takes it. */
  args?: string[];
  env?: string[];
  /** Seconds before the hook is killed and counted as failed. */
  timeout?: number;
}

export type OciHooks = Partial<Record<HookKind, OciHook[]>>;
