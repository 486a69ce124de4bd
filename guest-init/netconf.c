#include "netconf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_DIR "/sys/class/net"
#define NL_BUF 512

static size_t family_size(int family)
{
	return family == AF_INET ? 4 : 16;
}

int net_parse_address(int family, const char *text, uint8_t *out)
{
	if (inet_pton(family, text, out) != 1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int net_parse_prefix(const char *text, struct net_prefix *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	char *end;
	unsigned long prefix;

	if (len >= sizeof(addr))
		goto bad;
	memcpy(addr, text, len);
	addr[len] = '\0';
	out->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (net_parse_address(out->family, addr, out->addr) < 0)
		return -1;
	prefix = family_size(out->family) * 8;
	if (slash) {
		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || prefix > family_size(out->family) * 8)
			goto bad;
	}
	out->prefix = (unsigned)prefix;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static int read_mac(const char *ifname, uint8_t *mac)
{
	char path[PATH_MAX];
	FILE *f;
	int n;

	if (snprintf(path, sizeof(path), NET_DIR "/%s/address", ifname) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fscanf(f, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		   &mac[4], &mac[5]);
	fclose(f);
	return n == NET_MAC_LEN ? 0 : -1;
}

/* The kernel's name of the interface with that MAC. */
static int find_by_mac(const uint8_t *mac, char *name)
{
	DIR *dir = opendir(NET_DIR);
	struct dirent *e;
	uint8_t found[NET_MAC_LEN];
	int rc = -1;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= IFNAMSIZ)
			continue;
		if (read_mac(e->d_name, found) == 0 && memcmp(found, mac, NET_MAC_LEN) == 0) {
			snprintf(name, IFNAMSIZ, "%s", e->d_name);
			rc = 0;
			break;
		}
	}
	closedir(dir);
	if (rc < 0)
		errno = ENODEV;
	return rc;
}

static int set_name(int fd, const char *from, const char *to)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", from);
	snprintf(ifr.ifr_newname, IFNAMSIZ, "%s", to);
	return ioctl(fd, SIOCSIFNAME, &ifr);
}

/* Takes the wanted name, moving an interface that holds it aside (names follow probe order). */
static int rename_to(int fd, char *name, const char *wanted)
{
	char aside[IFNAMSIZ];
	unsigned index = if_nametoindex(wanted);

	if (strcmp(name, wanted) == 0)
		return 0;
	if (index) {
		/* Unique per index; cut so that it fits IFNAMSIZ. */
		snprintf(aside, sizeof(aside), "rvaside%u", index % 100000u);
		if (set_name(fd, wanted, aside) < 0)
			return -1;
	}
	if (set_name(fd, name, wanted) < 0)
		return -1;
	snprintf(name, IFNAMSIZ, "%s", wanted);
	return 0;
}

static int set_mtu(int fd, const char *name, uint32_t mtu)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_mtu = (int)mtu;
	return ioctl(fd, SIOCSIFMTU, &ifr);
}

static int set_mac(int fd, const char *name, const uint8_t *mac)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, NET_MAC_LEN);
	return ioctl(fd, SIOCSIFHWADDR, &ifr);
}

static int set_up(int fd, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

static int nl_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	if (NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len) > NL_BUF) {
		errno = EMSGSIZE;
		return -1;
	}
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len);
	return 0;
}

/* Sends one request and waits for the kernel's acknowledgement. */
static int nl_request(struct nlmsghdr *h)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char answer[NL_BUF];
	struct nlmsghdr *a = (struct nlmsghdr *)answer;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;
	int err = EIO;

	if (fd < 0)
		return -1;
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = 1;
	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = errno;
		goto out;
	}
	n = recv(fd, answer, sizeof(answer), 0);
	if (n < 0)
		err = errno;
	else if (NLMSG_OK(a, (size_t)n) && a->nlmsg_type == NLMSG_ERROR)
		err = -((struct nlmsgerr *)NLMSG_DATA(a))->error;
out:
	close(fd);
	errno = err;
	return err ? -1 : 0;
}

static int add_address(unsigned index, const struct net_prefix *p)
{
	union { struct nlmsghdr h; char buf[NL_BUF]; } m = { 0 };
	struct ifaddrmsg *ifa = NLMSG_DATA(&m.h);
	/* The address is the host's already: duplicate detection would only delay it. */
	uint32_t flags = IFA_F_NODAD;
	size_t size = family_size(p->family);

	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifa));
	m.h.nlmsg_type = RTM_NEWADDR;
	m.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	ifa->ifa_family = (unsigned char)p->family;
	ifa->ifa_prefixlen = (unsigned char)p->prefix;
	ifa->ifa_index = index;
	if (nl_attr(&m.h, IFA_LOCAL, p->addr, size) < 0 ||
	    nl_attr(&m.h, IFA_ADDRESS, p->addr, size) < 0 ||
	    (p->family == AF_INET6 && nl_attr(&m.h, IFA_FLAGS, &flags, sizeof(flags)) < 0))
		return -1;
	return nl_request(&m.h);
}

static int add_route(unsigned index, const struct net_route *r)
{
	union { struct nlmsghdr h; char buf[NL_BUF]; } m = { 0 };
	struct rtmsg *rt = NLMSG_DATA(&m.h);
	uint32_t oif = index;
	size_t size = family_size(r->dest.family);

	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	m.h.nlmsg_type = RTM_NEWROUTE;
	/* As `ip route append`: a default route per interface, as a netns with several can have. */
	m.h.nlmsg_flags = NLM_F_CREATE | NLM_F_APPEND;
	rt->rtm_family = (unsigned char)r->dest.family;
	rt->rtm_dst_len = (unsigned char)r->dest.prefix;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = r->has_gateway || r->dest.family == AF_INET6 ? RT_SCOPE_UNIVERSE
								      : RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	if ((r->dest.prefix && nl_attr(&m.h, RTA_DST, r->dest.addr, size) < 0) ||
	    (r->has_gateway && nl_attr(&m.h, RTA_GATEWAY, r->gateway, size) < 0) ||
	    nl_attr(&m.h, RTA_OIF, &oif, sizeof(oif)) < 0)
		return -1;
	if (nl_request(&m.h) < 0 && errno != EEXIST) /* the same route again is no error */
		return -1;
	return 0;
}

/* Says which step failed, for the reply; keeps errno and returns -1. */
static int fail(char *why, size_t why_len, const char *step, const struct net_prefix *p)
{
	char text[INET6_ADDRSTRLEN] = "";
	int saved = errno;

	if (p && inet_ntop(p->family, p->addr, text, sizeof(text)))
		snprintf(why, why_len, "%s %s/%u", step, text, p->prefix);
	else
		snprintf(why, why_len, "%s", step);
	errno = saved;
	return -1;
}

/* Addresses before the link is up, routes after: a gateway must be reachable on an up link. */
static int configure(int fd, const struct net_interface *nif, char *name, char *why,
		     size_t why_len)
{
	unsigned index;
	size_t i;

	if (nif->name[0] && rename_to(fd, name, nif->name) < 0)
		return fail(why, why_len, "rename", NULL);
	if (nif->mtu && set_mtu(fd, name, nif->mtu) < 0)
		return fail(why, why_len, "set the MTU", NULL);
	if (nif->set_mac && set_mac(fd, name, nif->new_mac) < 0)
		return fail(why, why_len, "set the MAC", NULL);
	index = if_nametoindex(name);
	if (!index)
		return fail(why, why_len, "find the index", NULL);
	for (i = 0; i < nif->naddresses; i++)
		if (add_address(index, &nif->addresses[i]) < 0)
			return fail(why, why_len, "add address", &nif->addresses[i]);
	if (set_up(fd, name) < 0)
		return fail(why, why_len, "bring up", NULL);
	for (i = 0; i < nif->nroutes; i++)
		if (add_route(index, &nif->routes[i]) < 0)
			return fail(why, why_len, "add route to", &nif->routes[i].dest);
	return 0;
}

int net_configure(const struct net_interface *nif, char *why, size_t why_len)
{
	char name[IFNAMSIZ];
	int fd, rc, saved;

	if (find_by_mac(nif->mac, name) < 0) {
		snprintf(why, why_len, "no interface has MAC %02x:%02x:%02x:%02x:%02x:%02x",
			 nif->mac[0], nif->mac[1], nif->mac[2], nif->mac[3], nif->mac[4],
			 nif->mac[5]);
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(why, why_len, "socket", NULL);
	rc = configure(fd, nif, name, why, why_len);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}
