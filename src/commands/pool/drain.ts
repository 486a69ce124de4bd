import { RunvCommand } from '../../cli/runv-command';
import { VmPool } from '../../pool/vm-pool';

export default class PoolDrain extends RunvCommand<typeof PoolDrain> {
  static override summary = 'Destroy the warm pool\'s waiting VMs; VMs that containers took stay theirs.';

  async run(): Promise<void> {
    const removed = await this.container.get(VmPool).drain();
    this.logToStderr(`${removed} pool VM${removed === 1 ? '' : 's'} removed`);
  }
}
