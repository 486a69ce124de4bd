import { ContainerModel, GuestInterface, ProcessModel } from '../core/model';
import { Attribute, attr } from './codec';
import { Tag } from './protocol';

/** Host -> guest request payloads, from the sandbox model. */
export function addContainerAttributes(container: ContainerModel): Attribute[] {
  const attributes = [
    attr.str(Tag.ContainerId, container.id),
    attr.str(Tag.RootfsSource, container.rootfs.source),
    attr.str(Tag.RootfsFstype, container.rootfs.fstype),
    attr.str(Tag.RootfsOptions, container.rootfs.options),
    attr.u32(Tag.Readonly, container.rootfs.readonly ? 1 : 0),
  ];
  if (container.hostname) attributes.push(attr.str(Tag.Hostname, container.hostname));
  for (const m of container.mounts) {
    attributes.push(
      attr.nested(Tag.Mount, [
        attr.str(Tag.MountType, m.type),
        attr.str(Tag.MountSource, m.source),
        attr.str(Tag.MountDest, m.destination),
        attr.str(Tag.MountOptions, m.options.join(',')),
      ]),
    );
  }
  return attributes;
}

export function startProcessAttributes(process: ProcessModel): Attribute[] {
  const attributes = [
    ...processAddress(process.containerId, process.processId),
    attr.u32(Tag.Init, process.init ? 1 : 0),
    ...process.args.map((a) => attr.str(Tag.Arg, a)),
    ...process.env.map((e) => attr.str(Tag.Env, e)),
    attr.str(Tag.Cwd, process.cwd),
    attr.u32(Tag.Uid, process.uid),
    attr.u32(Tag.Gid, process.gid),
    ...process.additionalGids.map((g) => attr.u32(Tag.AdditionalGid, g)),
    ...process.rlimits.map((r) =>
      attr.nested(Tag.Rlimit, [attr.str(Tag.RlimitType, r.type), attr.u64(Tag.RlimitSoft, r.soft), attr.u64(Tag.RlimitHard, r.hard)]),
    ),
    attr.u32(Tag.NoNewPrivs, process.noNewPrivileges ? 1 : 0),
    attr.u32(Tag.Terminal, process.terminal ? 1 : 0),
  ];
  if (process.umask !== undefined) attributes.push(attr.u32(Tag.Umask, process.umask));
  if (process.rows !== undefined) attributes.push(attr.u32(Tag.Rows, process.rows));
  if (process.cols !== undefined) attributes.push(attr.u32(Tag.Cols, process.cols));
  return attributes;
}

export function processAddress(containerId: string, processId: string): Attribute[] {
  return [attr.str(Tag.ContainerId, containerId), attr.str(Tag.ProcessId, processId)];
}

export function addInterfaceAttributes(iface: GuestInterface): Attribute[] {
  return [
    attr.bytes(Tag.Mac, Buffer.from(iface.mac.split(':').map((octet) => parseInt(octet, 16)))),
    attr.str(Tag.Ifname, iface.name),
    attr.u32(Tag.Mtu, iface.mtu),
    ...iface.addresses.map((address) => attr.str(Tag.Address, address)),
    ...iface.routes.map((route) =>
      attr.nested(Tag.Route, [attr.str(Tag.RouteDest, route.destination), ...(route.gateway ? [attr.str(Tag.RouteGateway, route.gateway)] : [])]),
    ),
  ];
}
