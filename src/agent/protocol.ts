/**
 * Constants of the host<->guest wire protocol. docs/protocol.md is the specification and
 * guest-init/protocol.h its C twin; keep all three in step.
 */
export const PROTOCOL_VERSION = 1;
export const MAGIC = 0x52554e56; // "RUNV"
export const HEADER_SIZE = 16;
export const MAX_PAYLOAD = 65536;
export const ATTRIBUTE_HEADER_SIZE = 4;
/** An attribute's length is a u16. */
export const MAX_ATTRIBUTE_VALUE = 0xffff;
export const MAX_DATA_CHUNK = 32768;
/** LIST_PROCESSES cuts a longer COMMAND to this many bytes. */
export const MAX_COMMAND = 1024;
export const AGENT_PORT_NAME = 'io.runv.agent';

export enum MessageType {
  Hello = 0x01,
  Ok = 0x02,
  Error = 0x03,
  AddContainer = 0x10,
  StartProcess = 0x11,
  Stdin = 0x12,
  Resize = 0x13,
  Signal = 0x14,
  Shutdown = 0x15,
  CloseOutput = 0x16,
  ListProcesses = 0x17,
  AddInterface = 0x18,
  SetCgroup = 0x1e,
  ReadCgroup = 0x1f,
  Stdout = 0x20,
  Stderr = 0x21,
  Exit = 0x22,
}

export enum Tag {
  Version = 1,
  Code = 2,
  Message = 3,
  ContainerId = 4,
  ProcessId = 5,
  Pid = 6,
  ExitStatus = 7,
  Signal = 8,
  Data = 9,
  Arg = 10,
  Env = 11,
  Cwd = 12,
  Uid = 13,
  Gid = 14,
  AdditionalGid = 15,
  NoNewPrivs = 16,
  Terminal = 17,
  Rows = 19,
  Cols = 20,
  Umask = 21,
  Hostname = 22,
  RootfsSource = 23,
  RootfsFstype = 24,
  RootfsOptions = 25,
  Readonly = 26,
  Mount = 27,
  MountType = 28,
  MountSource = 29,
  MountDest = 30,
  MountOptions = 31,
  Init = 32,
  Rlimit = 33,
  RlimitType = 34,
  RlimitSoft = 35,
  RlimitHard = 36,
  Stream = 37,
  Process = 38,
  Ppid = 39,
  Command = 40,
  Truncated = 41,
  All = 42,
  Share = 43,
  MaskedPath = 44,
  ReadonlyPath = 45,
  Mac = 46,
  Ifname = 47,
  Mtu = 48,
  Address = 49,
  Route = 50,
  RouteDest = 51,
  RouteGateway = 52,
  // Hooks and cgroups from 60.
  Hook = 60,
  HookPath = 61,
  HookTimeout = 62,
  HookState = 63,
  CgroupFile = 64,
  CgroupFileName = 65,
  CgroupFileValue = 66,
  /** u32 flag on HELLO: a check that the guest answers, by a host that is not the VM's owner. */
  Probe = 67,
  /** bytes[6] on ADD_INTERFACE: the MAC the interface found by MAC takes (a pool VM's NIC). */
  NewMac = 68,
}

/** Linux errno values used as ERROR codes on the wire. */
export const Errno = {
  ENOENT: 2,
  ESRCH: 3,
  EACCES: 13,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EBADMSG: 74,
  EMSGSIZE: 90,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ECANCELED: 125,
} as const;
