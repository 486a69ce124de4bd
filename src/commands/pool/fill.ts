import { Flags } from '@oclif/core';
import { RunvCommand } from '../../cli/runv-command';
import { RunvError } from '../../core/errors';
import { MAX_POOL_SIZE } from '../../runtime/config-file';
import { VmPool } from '../../pool/vm-pool';

export default class PoolFill extends RunvCommand<typeof PoolFill> {
  static override summary = 'Boot VMs into the warm pool until it holds --size of them, ready for containers.';

  static override description =
    'A container whose VM would look like a pool VM (default size, 9p storage, no network interfaces, the same ' +
    'template and guest image) takes a booted one instead of booting its own; each pool VM serves one container. ' +
    'With "pool": {"size": N} in the runtime config, every container that takes one starts a filler in the background.';

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --size 2'];

  static override flags = {
    size: Flags.integer({ summary: 'VMs to keep waiting [default: the runtime config\'s pool.size, else 1].', min: 1, max: MAX_POOL_SIZE }),
  };

  async run(): Promise<void> {
    const size = this.flags.size ?? (this.runtimeConfig().poolSize || 1);
    // Ctrl-C (or a drain's SIGTERM) stops the boot under way and removes that VM.
    const stop = new AbortController();
    const abort = (): void => stop.abort(new RunvError('interrupted', 'pool fill interrupted'));
    process.on('SIGINT', abort).on('SIGTERM', abort);
    try {
      await this.container.get(VmPool).fill(size, { progress: (message) => this.logToStderr(message), aborted: stop.signal });
    } finally {
      process.off('SIGINT', abort).off('SIGTERM', abort);
    }
  }
}
