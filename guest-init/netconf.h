/*
 * The VM's side of the container's network: an interface the host connected (found by its
 * MAC) gets the name, MTU, addresses and routes it had in the container's netns. rtnetlink
 * for addresses and routes, ioctl for name, MTU and flags; no I/O besides those.
 */
#ifndef GUEST_INIT_NETCONF_H
#define GUEST_INIT_NETCONF_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_MAX_ADDRESSES 16
#define NET_MAX_ROUTES 32
#define NET_MAC_LEN 6

/* An address with its prefix length, IPv4 or IPv6. */
struct net_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct net_route {
	struct net_prefix dest;
	bool has_gateway;
	uint8_t gateway[16]; /* same family as dest */
};

struct net_interface {
	uint8_t mac[NET_MAC_LEN];     /* which interface: the MAC the VM booted it with */
	uint8_t new_mac[NET_MAC_LEN]; /* the MAC it takes, when set_mac (a pool VM's NIC) */
	bool set_mac;
	char name[IFNAMSIZ]; /* "": keep the kernel's name */
	uint32_t mtu;        /* 0: keep the kernel's MTU */
	struct net_prefix addresses[NET_MAX_ADDRESSES];
	size_t naddresses;
	struct net_route routes[NET_MAX_ROUTES];
	size_t nroutes;
};

/* "10.0.0.2/24" or "fd00::2/64"; a bare address is a host prefix (/32, /128). */
int net_parse_prefix(const char *text, struct net_prefix *out);
/* An address of the given family, as a route gateway. */
int net_parse_address(int family, const char *text, uint8_t *out);
/* Configures the interface, then brings it up; on -1 errno is set and why says at which step. */
int net_configure(const struct net_interface *nif, char *why, size_t why_len);

#endif
