import { Flags } from '@oclif/core';
import { RunvCommand } from '../../cli/runv-command';
import { ImageBuilder, ImageBuildResult } from '../../image/image-builder';
import { formatMiB } from '../../image/image-layout';

export default class ImageBuild extends RunvCommand<typeof ImageBuild> {
  static override summary = 'Build the guest image (vmlinux + initrd) that container VMs boot, and make it current.';

  static override description =
    'Extracts the uncompressed kernel from a bzImage, packs guest-init and the kernel modules the guest needs into an ' +
    'initrd, and points <images-dir>/current at the result. Does nothing when an image for the same inputs exists.';

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --kernel /boot/vmlinuz-6.1.0-57-amd64 --init ./guest-init/build/guest-init',
    '<%= config.bin %> <%= command.id %> --images-dir /tmp/runv-images --force',
  ];

  static override flags = {
    kernel: Flags.string({ description: 'bzImage to boot [default: newest /boot/vmlinuz-*]' }),
    'modules-dir': Flags.string({ description: 'kernel modules directory [default: /lib/modules/<kernel version>]' }),
    init: Flags.string({ description: 'static guest-init binary [default: guest-init/build/guest-init]' }),
    force: Flags.boolean({ description: 'rebuild even if an image for the same inputs exists' }),
  };

  async run(): Promise<void> {
    const image = await this.container.get(ImageBuilder).build(
      {
        kernelPath: this.flags.kernel,
        modulesDir: this.flags['modules-dir'],
        initPath: this.flags.init,
        imagesDir: this.runtimeConfig().imagesDir,
        force: this.flags.force,
      },
      (message) => this.logToStderr(message),
    );
    this.log(describe(image));
  }
}

function describe(image: ImageBuildResult): string {
  const { key, sizes, modules } = image.manifest;
  const state = image.upToDate ? ' (up to date)' : '';
  return `image ${key}: vmlinux ${formatMiB(sizes.vmlinux)}, initrd ${formatMiB(sizes.initrd)} (block: ${formatMiB(sizes.blockInitrd)}; ${modules.length} modules) in ${image.dir}${state}`;
}
