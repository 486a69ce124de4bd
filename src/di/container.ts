import * as fs from 'node:fs';
import { Container } from 'inversify';
import { Logger, silentLogger } from '../core/logger';
import { Hypervisor } from '../core/ports';
import { LibvirtHypervisor } from '../hypervisor/libvirt-hypervisor';
import { HostChecks } from '../doctor/host-checks';
import { ImageBuilder } from '../image/image-builder';
import { ImageStore } from '../image/image-store';
import { NetworkService } from '../network/network-service';
import { RunService } from '../runtime/run-service';
import { LXC_DAEMON_SOCKET, libvirtUriOf, RuntimeConfig } from '../runtime/runtime-config';
import { LxcLauncher } from '../runtime/lxc-launcher';
import { SandboxLauncher } from '../runtime/sandbox-launcher';
import { ContainerShim } from '../shim/container-shim';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { VmPool } from '../pool/vm-pool';
import { StorageService } from '../storage/storage-service';

/**
 * The one place that decides which implementation serves each port. Tests build this same
 * container and rebind only the fakes (the hypervisor, usually).
 */
export function createContainer(config: RuntimeConfig, logger: Logger = silentLogger): Container {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<RuntimeConfig>(RuntimeConfig).toConstantValue(config);
  container.bind<Logger>(Logger).toConstantValue(logger);
  container.bind<Hypervisor>(Hypervisor).toDynamicValue(() => new LibvirtHypervisor(libvirtUri(config), (message) => logger.debug('hypervisor', message))).inSingletonScope();
  container.bind(ImageStore).toSelf().inSingletonScope();
  container.bind(ImageBuilder).toSelf().inSingletonScope();
  container.bind(StorageService).toSelf().inSingletonScope();
  container.bind(NetworkService).toSelf().inSingletonScope();
  container.bind(LxcLauncher).toSelf().inSingletonScope();
  container.bind(VmPool).toSelf().inSingletonScope();
  container.bind(SandboxLauncher).toSelf().inSingletonScope();
  container.bind(RunService).toSelf().inSingletonScope();
  container.bind(HostChecks).toSelf().inSingletonScope();
  container.bind(ContainerShim).toSelf().inSingletonScope();
  container.bind(LifecycleService).toSelf().inSingletonScope();
  return container;
}

function libvirtUri(config: RuntimeConfig): string {
  return libvirtUriOf(config, config.driver === 'lxc' && fs.existsSync(LXC_DAEMON_SOCKET));
}
