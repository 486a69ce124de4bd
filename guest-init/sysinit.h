/* What PID 1 does for the VM itself: early mounts, kernel modules, the host port. */
#ifndef GUEST_INIT_SYSINIT_H
#define GUEST_INIT_SYSINIT_H

#define AGENT_PORT_NAME "io.runv.agent"

int sysinit_mount_basics(void);
/* Makes sure fds 0-2 are open, so no later fd lands on them. */
void sysinit_std_fds(void);
/* Returns the number of modules that failed to load. */
int sysinit_load_modules(void);
/* The modules /lib/modules/<list>.order names (none if there is no such list); same result. */
int sysinit_load_module_list(const char *list);
int sysinit_loopback_up(void);
/* Opens the virtio-serial port with that name, waiting for it to appear. */
int sysinit_open_port(const char *name, int timeout_ms);
_Noreturn void sysinit_poweroff(void);
_Noreturn void sysinit_fatal(const char *reason);

#endif
