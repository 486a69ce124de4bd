import { ContainerRecord } from './container-state';

/** The runtime-spec version runv implements and reports. */
export const OCI_VERSION = '1.0.2';

/** The state JSON of the runtime-spec (`runv state`), as runc prints it. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: string;
  pid: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** A stopped container has no process: its pid is 0, as in runc. */
export function toOciState(record: ContainerRecord): OciState {
  const { ociVersion, id, status, bundle, rootfs, created, owner, annotations } = record;
  return { ociVersion, id, status, pid: status === 'stopped' ? 0 : record.pid, bundle, rootfs, created, owner, annotations };
}
