/* SPDX-License-Identifier: Apache-2.0 */
#include "sock_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_SEPARATORS " ,\t"

void iond_sock_policy_init(struct iond_sock_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->enabled = true;
	p->connect_any = true;
}

/* Call fn on each word of list; stops at the first error. */
static int for_each_word(const char *list, int (*fn)(void *arg, const char *word), void *arg,
			 char *err, size_t err_len)
{
	const char *w = list;

	while (*w) {
		size_t n = strspn(w, LIST_SEPARATORS);
		char word[INET6_ADDRSTRLEN + 8];
		int rc;

		w += n;
		n = strcspn(w, LIST_SEPARATORS);
		if (!n)
			break;
		rc = n < sizeof(word) ? 0 : -EINVAL;
		if (!rc) {
			memcpy(word, w, n);
			word[n] = '\0';
			rc = fn(arg, word);
		}
		if (rc) {
			snprintf(err, err_len, "'%.*s'", (int)n, w);
			return rc;
		}
		w += n;
	}
	return 0;
}

static int parse_port(const char *s, char **end, unsigned long *port)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*port = strtoul(s, end, 10);
	return errno || *port < 1 || *port > 65535 ? -EINVAL : 0;
}

static int add_port_range(void *arg, const char *word)
{
	struct iond_sock_policy *p = arg;
	unsigned long lo, hi;
	char *end;

	if (parse_port(word, &end, &lo))
		return -EINVAL;
	hi = lo;
	if (*end == '-' && parse_port(end + 1, &end, &hi))
		return -EINVAL;
	if (*end || hi < lo)
		return -EINVAL;
	for (unsigned long port = lo; port <= hi; port++)
		p->ports[port / 8] |= (uint8_t)(1u << (port % 8));
	return 0;
}

int iond_sock_policy_set_ports(struct iond_sock_policy *p, const char *list, char *err,
			       size_t err_len)
{
	memset(p->ports, 0, sizeof(p->ports));
	return for_each_word(list, add_port_range, p, err, err_len);
}

static int add_net(void *arg, const char *word)
{
	struct iond_sock_policy *p = arg;
	struct iond_sock_net net = {0};
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(word, '/');
	unsigned long prefix, max;
	char *end;

	snprintf(addr, sizeof(addr), "%.*s", slash ? (int)(slash - word) : (int)strlen(word), word);
	if (inet_pton(AF_INET, addr, net.addr) == 1)
		net.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, net.addr) == 1)
		net.family = AF_INET6;
	else
		return -EINVAL;
	max = net.family == AF_INET ? 32 : 128;
	prefix = max;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end || prefix > max)
			return -EINVAL;
	}
	if (p->nnets == IOND_SOCK_MAX_NETS)
		return -E2BIG;
	net.prefix = (unsigned int)prefix;
	p->nets[p->nnets++] = net;
	return 0;
}

int iond_sock_policy_set_connect(struct iond_sock_policy *p, const char *list, char *err,
				 size_t err_len)
{
	p->nnets = 0;
	p->connect_any = !strcmp(list, "any");
	if (p->connect_any)
		return 0;
	return for_each_word(list, add_net, p, err, err_len);
}

bool iond_sock_policy_port_allowed(const struct iond_sock_policy *p, unsigned int port)
{
	return port < 65536 && (p->ports[port / 8] & (1u << (port % 8)));
}

long iond_sock_policy_port_ranges(const struct iond_sock_policy *p, int64_t *out,
				  size_t max_pairs)
{
	size_t n = 0;
	unsigned int port = 0;

	if (!p->enabled)
		return 0;
	while (port < 65536) {
		unsigned int lo;

		if (!iond_sock_policy_port_allowed(p, port)) {
			port++;
			continue;
		}
		lo = port;
		while (port < 65536 && iond_sock_policy_port_allowed(p, port))
			port++;
		if (n == max_pairs)
			return -E2BIG;
		out[2 * n] = lo;
		out[2 * n + 1] = port - 1;
		n++;
	}
	return (long)n;
}

static bool prefix_matches(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole))
		return false;
	return !rest || !((a[whole] ^ b[whole]) & (uint8_t)(0xff00u >> rest));
}

bool iond_sock_policy_connect_allowed(const struct iond_sock_policy *p, const struct sockaddr *sa)
{
	sa_family_t family = sa->sa_family;
	const uint8_t *addr;

	if (p->connect_any)
		return true;
	if (family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		addr = in6->s6_addr;
		/* ::ffff:a.b.c.d reaches the IPv4 host a.b.c.d: judged as it. */
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			family = AF_INET;
			addr += 12;
		}
	}
	for (size_t i = 0; i < p->nnets; i++)
		if (p->nets[i].family == family &&
		    prefix_matches(addr, p->nets[i].addr, p->nets[i].prefix))
			return true;
	return false;
}

const char *iond_sock_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "(family %u)", sa->sa_family);
	}
	return buf;
}
