import { Flags } from '@oclif/core';
import { RunvCommand } from '../../cli/runv-command';
import { PoolVmEntry, VmPool } from '../../pool/vm-pool';
import { table } from '../list';

export default class PoolList extends RunvCommand<typeof PoolList> {
  static override summary = "List the warm pool's VMs: booting, ready, claimed by a container, or dead.";
  static override flags = {
    format: Flags.string({ char: 'f', summary: 'Output format.', options: ['table', 'json'], default: 'table' }),
  };

  async run(): Promise<void> {
    const vms = (await this.container.get(VmPool).entries()).map(described);
    if (this.flags.format === 'json') process.stdout.write(JSON.stringify(vms) + '\n');
    else process.stdout.write(table(['NAME', 'DOMAIN', 'STATUS', 'CONTAINER', 'CREATED'], vms.map((vm) => [vm.name, vm.domain, vm.status, vm.container, vm.created])));
  }
}

function described(entry: PoolVmEntry): { name: string; domain: string; status: string; container: string; created: string } {
  return { name: entry.paths.name, domain: entry.paths.domain, status: entry.status, container: entry.claim?.id ?? '', created: entry.info?.created ?? '' };
}
