import * as fs from 'node:fs';
import { inject, injectable } from 'inversify';
import { Hypervisor } from '../core/ports';
import { chooseDomainType, hostKvmFacts } from '../hypervisor/accel';
import { ImageStore } from '../image/image-store';
import { libvirtUriOf, RuntimeConfig } from '../runtime/runtime-config';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** What to run or change when the check fails. */
  fix?: string;
}

const VIRTLOGD_SOCKET = '/run/libvirt/virtlogd-sock';
const QEMU = '/usr/bin/qemu-system-x86_64';

/** `runv doctor`: what this host has and lacks for running containers in VMs. */
@injectable()
export class HostChecks {
  constructor(
    @inject(Hypervisor) private readonly hypervisor: Hypervisor,
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(ImageStore) private readonly images: ImageStore,
  ) {}

  async run(): Promise<CheckResult[]> {
    return [
      fileCheck('qemu', QEMU, 'apt-get install qemu-system-x86'),
      this.accelerator(),
      await this.libvirtd(),
      fileCheck('virtlogd', VIRTLOGD_SOCKET, 'virtlogd -d'),
      this.guestKernel(),
      await this.guestImage(),
    ];
  }

  private accelerator(): CheckResult {
    try {
      const decision = chooseDomainType(this.config.accel, hostKvmFacts());
      return { name: 'accelerator', ok: true, detail: `${decision.type === 'kvm' ? 'KVM' : 'TCG (software emulation)'}: ${decision.reason}` };
    } catch (error) {
      return { name: 'accelerator', ok: false, detail: (error as Error).message, fix: '--accel auto' };
    }
  }

  private async libvirtd(): Promise<CheckResult> {
    try {
      await this.hypervisor.stateOf('runv-doctor-probe');
      return { name: 'libvirtd', ok: true, detail: `connected to ${libvirtUriOf(this.config)}` };
    } catch (error) {
      return { name: 'libvirtd', ok: false, detail: (error as Error).message, fix: 'apt-get install libvirt-daemon-system && virtlogd -d && libvirtd -d' };
    }
  }

  private guestKernel(): CheckResult {
    const kernels = safeReaddir('/boot').filter((f) => f.startsWith('vmlinuz-'));
    if (kernels.length === 0) return { name: 'guest kernel', ok: false, detail: 'no /boot/vmlinuz-* to boot guests with', fix: 'apt-get install linux-image-amd64' };
    return { name: 'guest kernel', ok: true, detail: kernels.map((k) => `/boot/${k}`).join(', ') };
  }

  private async guestImage(): Promise<CheckResult> {
    try {
      const image = await this.images.current(this.config.imagesDir);
      return { name: 'guest image', ok: true, detail: `${image.dir} (kernel ${image.manifest.kernelVersion}, ${image.manifest.modules.length} modules)` };
    } catch (error) {
      return { name: 'guest image', ok: false, detail: (error as Error).message, fix: 'runv image build' };
    }
  }
}

function fileCheck(name: string, path: string, fix: string): CheckResult {
  return fs.existsSync(path) ? { name, ok: true, detail: path } : { name, ok: false, detail: `${path} is missing`, fix };
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
