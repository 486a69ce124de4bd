import { ProcessModel } from '../../src/core/model';

/** A plain non-init process of container "c", root, no terminal: tests override what they test. */
export function processModel(overrides: Partial<ProcessModel> & Pick<ProcessModel, 'processId'>): ProcessModel {
  return {
    containerId: 'c',
    init: false,
    args: ['/bin/true'],
    env: [],
    cwd: '/',
    uid: 0,
    gid: 0,
    additionalGids: [],
    rlimits: [],
    noNewPrivileges: false,
    terminal: false,
    ...overrides,
  };
}
