import { ContainerModel, GuestInterface, Hook, ProcessModel } from '../core/model';
import { Attribute, attr } from './codec';
import { Tag } from './protocol';

/** Host -> guest request payloads, from the sandbox model. */
export function addContainerAttributes(container: ContainerModel): Attribute[] {
  const attributes = [
    attr.str(Tag.ContainerId, container.id),
    attr.str(Tag.RootfsSource, container.rootfs.source),
    // No type: an existing directory, used as is ("/" under LXC, where the domain's root is the rootfs).
    ...(container.rootfs.fstype ? [attr.str(Tag.RootfsFstype, container.rootfs.fstype), attr.str(Tag.RootfsOptions, container.rootfs.options)] : []),
    attr.u32(Tag.Readonly, container.rootfs.readonly ? 1 : 0),
  ];
  if (container.hostname) attributes.push(attr.str(Tag.Hostname, container.hostname));
  // A share's MOUNT_DEST is its name: guest-init mounts it outside the container's root.
  for (const s of container.shares) attributes.push(mountAttribute(Tag.Share, s.fstype, s.source, s.name, s.options));
  for (const m of container.mounts) attributes.push(mountAttribute(Tag.Mount, m.type, m.source, m.destination, m.options.join(',')));
  attributes.push(...container.maskedPaths.map((p) => attr.str(Tag.MaskedPath, p)));
  attributes.push(...container.readonlyPaths.map((p) => attr.str(Tag.ReadonlyPath, p)));
  return attributes;
}

function mountAttribute(tag: Tag, type: string, source: string, destination: string, options: string): Attribute {
  return attr.nested(tag, [attr.str(Tag.MountType, type), attr.str(Tag.MountSource, source), attr.str(Tag.MountDest, destination), attr.str(Tag.MountOptions, options)]);
}

/** startContainer hooks, which the container's init runs inside the guest before its program. */
export interface GuestHooks {
  hooks: Hook[];
  /** The container's state JSON, every hook's stdin. */
  state: string;
}

export function startProcessAttributes(process: ProcessModel, guestHooks?: GuestHooks): Attribute[] {
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
  if (guestHooks?.hooks.length) attributes.push(...guestHooks.hooks.map(hookAttribute), attr.str(Tag.HookState, guestHooks.state));
  return attributes;
}

function hookAttribute(hook: Hook): Attribute {
  const timeout = hook.timeoutSeconds === undefined ? [] : [attr.u32(Tag.HookTimeout, hook.timeoutSeconds)];
  return attr.nested(Tag.Hook, [attr.str(Tag.HookPath, hook.path), ...hook.args.map((a) => attr.str(Tag.Arg, a)), ...hook.env.map((e) => attr.str(Tag.Env, e)), ...timeout]);
}

export function processAddress(containerId: string, processId: string): Attribute[] {
  return [attr.str(Tag.ContainerId, containerId), attr.str(Tag.ProcessId, processId)];
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((octet) => parseInt(octet, 16)));
}

export function addInterfaceAttributes(iface: GuestInterface): Attribute[] {
  return [
    attr.bytes(Tag.Mac, macBytes(iface.bootMac ?? iface.mac)),
    ...(iface.bootMac ? [attr.bytes(Tag.NewMac, macBytes(iface.mac))] : []),
    attr.str(Tag.Ifname, iface.name),
    attr.u32(Tag.Mtu, iface.mtu),
    ...iface.addresses.map((address) => attr.str(Tag.Address, address)),
    ...iface.routes.map((route) =>
      attr.nested(Tag.Route, [attr.str(Tag.RouteDest, route.destination), ...(route.gateway ? [attr.str(Tag.RouteGateway, route.gateway)] : [])]),
    ),
  ];
}
