/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What forwarded sockets may do, from the daemon's [sockets] settings:
 * whether they are served at all, which ports a job may bind (listen_ports,
 * "8080 9000-9099"; none by default) and where a job may connect or send
 * datagrams (connect, "any" or a list of CIDRs; any by default).
 */
#ifndef IOND_SOCK_POLICY_H
#define IOND_SOCK_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define IOND_SOCK_MAX_NETS 64

struct iond_sock_net {
	sa_family_t family;
	uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
	unsigned int prefix;
};

struct iond_sock_policy {
	bool enabled;
	uint8_t ports[65536 / 8]; /* bit p: port p may be bound */
	bool connect_any;
	struct iond_sock_net nets[IOND_SOCK_MAX_NETS];
	size_t nnets;
};

/* Defaults: enabled, no port, connect anywhere. */
void iond_sock_policy_init(struct iond_sock_policy *p);
/* "8080 9000-9099" (spaces or commas); -EINVAL naming the bad word in err. */
int iond_sock_policy_set_ports(struct iond_sock_policy *p, const char *list, char *err,
			       size_t err_len);
/* "any", or CIDRs ("10.0.0.0/8, 2001:db8::/32"; a bare address is /32 or
 * /128); -EINVAL naming the bad word in err. */
int iond_sock_policy_set_connect(struct iond_sock_policy *p, const char *list, char *err,
				 size_t err_len);
bool iond_sock_policy_port_allowed(const struct iond_sock_policy *p, unsigned int port);
/* The bindable ports as (lo, hi) pairs in out[2 * max_pairs]; the number of
 * pairs, or -E2BIG when they do not fit.  None when sockets are off. */
long iond_sock_policy_port_ranges(const struct iond_sock_policy *p, int64_t *out,
				  size_t max_pairs);
/* sa: a checked sockaddr_in or sockaddr_in6. */
bool iond_sock_policy_connect_allowed(const struct iond_sock_policy *p, const struct sockaddr *sa);
/* "10.1.2.3:80", "[2001:db8::1]:80": for log lines. */
#define IOND_SOCK_ADDR_STRLEN (INET6_ADDRSTRLEN + 10)
const char *iond_sock_addr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
