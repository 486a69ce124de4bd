/*
 * runv agent protocol, version 1: the wire format shared by the host (src/agent/) and
 * guest-init. The authoritative description is docs/protocol.md; keep both in step.
 *
 * Every message is one frame, all integers big-endian:
 *
 *  0       4       6       8               12              16
 *  +-------+-------+-------+---------------+---------------+------------------------+
 *  | magic | type  | flags | request id    | payload len   | payload: attributes... |
 *  | RUNV  | u16   | u16=0 | u32           | u32 <= 65536  |                        |
 *  +-------+-------+-------+---------------+---------------+------------------------+
 *
 *  attribute (tags may repeat; unknown tags are ignored):
 *  0       2       4
 *  +-------+-------+------------------------+
 *  | tag   | len   | value (len bytes)      |
 *  | u16   | u16   | no padding             |
 *  +-------+-------+------------------------+
 *
 * Requests carry a non-zero id that the OK/ERROR reply echoes; events carry id 0.
 * A reply (OK or ERROR) is never answered.
 */
#ifndef RUNV_PROTOCOL_H
#define RUNV_PROTOCOL_H

#define RUNV_PROTOCOL_VERSION 1u
#define RUNV_MAGIC 0x52554E56u /* "RUNV" */
#define RUNV_HEADER_SIZE 16u
#define RUNV_ATTR_HEADER_SIZE 4u
#define RUNV_MAX_PAYLOAD 65536u
#define RUNV_MAX_DATA_CHUNK 32768u /* STDIN/STDOUT/STDERR DATA per frame */
#define RUNV_MAX_NESTING 2u        /* top level + one nested level */
#define RUNV_MAX_COMMAND 1024u     /* LIST_PROCESSES COMMAND bytes; longer ones are cut */

enum runv_type {
	RUNV_HELLO = 0x01,
	RUNV_OK = 0x02,
	RUNV_ERROR = 0x03,
	RUNV_ADD_CONTAINER = 0x10,
	RUNV_START_PROCESS = 0x11,
	RUNV_STDIN = 0x12,
	RUNV_RESIZE = 0x13,
	RUNV_SIGNAL = 0x14,
	RUNV_SHUTDOWN = 0x15,
	RUNV_CLOSE_OUTPUT = 0x16,
	RUNV_LIST_PROCESSES = 0x17,
	RUNV_ADD_INTERFACE = 0x18,
	RUNV_SET_CGROUP = 0x1E,
	RUNV_READ_CGROUP = 0x1F,
	RUNV_STDOUT = 0x20,
	RUNV_STDERR = 0x21,
	RUNV_EXIT = 0x22,
};

enum runv_tag {
	RUNV_A_VERSION = 1,        /* u32 */
	RUNV_A_CODE = 2,           /* u32 errno */
	RUNV_A_MESSAGE = 3,        /* str */
	RUNV_A_CONTAINER_ID = 4,   /* str */
	RUNV_A_PROCESS_ID = 5,     /* str */
	RUNV_A_PID = 6,            /* u32 */
	RUNV_A_EXIT_STATUS = 7,    /* u32 */
	RUNV_A_SIGNAL = 8,         /* u32 */
	RUNV_A_DATA = 9,           /* bytes */
	RUNV_A_ARG = 10,           /* str, repeated */
	RUNV_A_ENV = 11,           /* str, repeated */
	RUNV_A_CWD = 12,           /* str */
	RUNV_A_UID = 13,           /* u32 */
	RUNV_A_GID = 14,           /* u32 */
	RUNV_A_ADDITIONAL_GID = 15, /* u32, repeated */
	RUNV_A_NO_NEW_PRIVS = 16,  /* u32 */
	RUNV_A_TERMINAL = 17,      /* u32 */
	/* 18 is reserved */
	RUNV_A_ROWS = 19,          /* u32 */
	RUNV_A_COLS = 20,          /* u32 */
	RUNV_A_UMASK = 21,         /* u32 */
	RUNV_A_HOSTNAME = 22,      /* str */
	RUNV_A_ROOTFS_SOURCE = 23, /* str */
	RUNV_A_ROOTFS_FSTYPE = 24, /* str */
	RUNV_A_ROOTFS_OPTIONS = 25, /* str */
	RUNV_A_READONLY = 26,      /* u32 */
	RUNV_A_MOUNT = 27,         /* nested: MOUNT_TYPE, MOUNT_SOURCE, MOUNT_DEST, MOUNT_OPTIONS */
	RUNV_A_MOUNT_TYPE = 28,    /* str */
	RUNV_A_MOUNT_SOURCE = 29,  /* str */
	RUNV_A_MOUNT_DEST = 30,    /* str */
	RUNV_A_MOUNT_OPTIONS = 31, /* str, comma separated as in config.json */
	RUNV_A_INIT = 32,          /* u32 */
	RUNV_A_RLIMIT = 33,        /* nested: RLIMIT_TYPE, RLIMIT_SOFT, RLIMIT_HARD */
	RUNV_A_RLIMIT_TYPE = 34,   /* str, "RLIMIT_NOFILE", ... */
	RUNV_A_RLIMIT_SOFT = 35,   /* u64 */
	RUNV_A_RLIMIT_HARD = 36,   /* u64 */
	RUNV_A_STREAM = 37,        /* u32: 1 stdout, 2 stderr */
	RUNV_A_PROCESS = 38,       /* nested: PID, PPID, UID, COMMAND; repeated */
	RUNV_A_PPID = 39,          /* u32 */
	RUNV_A_COMMAND = 40,       /* str */
	RUNV_A_TRUNCATED = 41,     /* u32 */
	RUNV_A_ALL = 42,           /* u32 */
	RUNV_A_SHARE = 43,         /* nested as MOUNT; MOUNT_DEST is the share's name */
	RUNV_A_MASKED_PATH = 44,   /* str, repeated */
	RUNV_A_READONLY_PATH = 45, /* str, repeated */
	RUNV_A_MAC = 46,           /* bytes, 6 */
	RUNV_A_IFNAME = 47,        /* str */
	RUNV_A_MTU = 48,           /* u32 */
	RUNV_A_ADDRESS = 49,       /* str, "10.0.0.2/24" or "fd00::2/64"; repeated */
	RUNV_A_ROUTE = 50,         /* nested: ROUTE_DEST, ROUTE_GATEWAY?; repeated */
	RUNV_A_ROUTE_DEST = 51,    /* str, "0.0.0.0/0", "fd00::/64", ... */
	RUNV_A_ROUTE_GATEWAY = 52, /* str, an address of the same family */
	RUNV_A_HOOK = 60,          /* nested: HOOK_PATH, ARG+, ENV*, HOOK_TIMEOUT?; repeated */
	RUNV_A_HOOK_PATH = 61,     /* str */
	RUNV_A_HOOK_TIMEOUT = 62,  /* u32 seconds */
	RUNV_A_HOOK_STATE = 63,    /* str: the container's state JSON, every hook's stdin */
	RUNV_A_CGROUP_FILE = 64,   /* nested: CGROUP_FILE_NAME, CGROUP_FILE_VALUE?; repeated */
	RUNV_A_CGROUP_FILE_NAME = 65, /* str, "memory.max", ... */
	RUNV_A_CGROUP_FILE_VALUE = 66, /* str */
	RUNV_A_PROBE = 67,         /* u32 flag: a HELLO that only checks the guest answers */
	RUNV_A_NEW_MAC = 68,       /* bytes[6]: the MAC the interface found by MAC takes */
};

#endif
