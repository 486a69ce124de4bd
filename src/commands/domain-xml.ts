import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { sandboxFromBundle } from '../runtime/bundle';
import { SandboxLauncher } from '../runtime/sandbox-launcher';
import { translateDefaults } from '../runtime/runtime-config';

export default class DomainXml extends RunvCommand<typeof DomainXml> {
  static override summary = 'Print the libvirt domain XML runv would define for a bundle, without starting anything.';
  static override examples = ['<%= config.bin %> domain-xml --bundle ./b demo', '<%= config.bin %> domain-xml --bundle ./b --driver xen demo | virt-xml-validate - domain', '<%= config.bin %> domain-xml --bundle ./b --driver lxc demo'];
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = {
    bundle: Flags.string({ char: 'b', summary: 'Path to the OCI bundle.', default: '.' }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(DomainXml);
    const sandbox = sandboxFromBundle(args.id, this.flags.bundle, translateDefaults(this.runtimeConfig()));
    const xml = await this.container.get(SandboxLauncher).domainXml(sandbox);
    process.stdout.write(xml);
  }
}
