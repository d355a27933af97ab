/* SPDX-License-Identifier: Apache-2.0 */
/* URI → libfabric provider, node and service. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/rpc.h"

struct uri_scheme {
	const char *scheme; /* including "://" */
	const char *provider;
	int has_port;
};

static const struct uri_scheme uri_schemes[] = {
	{ "tcp://", "tcp;ofi_rxm", 1 },
	{ "verbs://", "verbs;ofi_rxm", 1 },
	{ "shm://", "shm", 0 },
};

static int copy_part(char *dst, size_t dst_len, const char *src, size_t src_len)
{
	if (src_len + 1 > dst_len)
		return -EINVAL;
	memcpy(dst, src, src_len);
	dst[src_len] = '\0';
	return 0;
}

/* HOST:PORT or [V6HOST]:PORT; the port is all digits. */
static int split_host_port(const char *rest, char *node, size_t node_len, char *service,
			   size_t service_len)
{
	const char *host = rest, *host_end, *port;
	int ret;

	if (rest[0] == '[') {
		host = rest + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':')
			return -EINVAL;
		port = host_end + 2;
	} else {
		host_end = strrchr(rest, ':');
		if (!host_end)
			return -EINVAL;
		port = host_end + 1;
	}
	if (host_end == host || port[0] == '\0' || strspn(port, "0123456789") != strlen(port) ||
	    strlen(port) > 5)
		return -EINVAL;
	ret = copy_part(node, node_len, host, (size_t)(host_end - host));
	if (ret)
		return ret;
	return copy_part(service, service_len, port, strlen(port));
}

int ferry_rpc_parse_uri(const char *uri, char *prov, size_t prov_len, char *node,
			size_t node_len, char *service, size_t service_len)
{
	size_t i;
	int ret;

	if (!uri || !prov || !node || !service)
		return -EINVAL;
	for (i = 0; i < sizeof(uri_schemes) / sizeof(uri_schemes[0]); i++) {
		const struct uri_scheme *s = &uri_schemes[i];
		size_t slen = strlen(s->scheme);
		const char *rest = uri + slen;

		if (strncmp(uri, s->scheme, slen) != 0)
			continue;
		ret = copy_part(prov, prov_len, s->provider, strlen(s->provider));
		if (ret)
			return ret;
		if (s->has_port)
			return split_host_port(rest, node, node_len, service, service_len);
		/* shm names are plain identifiers: no path separators, bounded. */
		if (rest[0] == '\0' || strchr(rest, '/') || strlen(rest) > 64)
			return -EINVAL;
		ret = copy_part(node, node_len, rest, strlen(rest));
		if (ret)
			return ret;
		return copy_part(service, service_len, "", 0);
	}
	return -EINVAL;
}
