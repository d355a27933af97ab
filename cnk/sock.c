/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded sockets, the program's side: which connects and binds go to the
 * I/O node, and the calls on a forwarded socket the kernel cannot answer
 * itself (its names, its options, the real peer of an injected connection).
 * The data path is native (an AF_UNIX end); sock_pump.c moves the bytes.
 *
 * Routing (dispatch.c): connect, bind, listen, getsockname, getpeername,
 * getsockopt and setsockopt run their handler through the dispatcher's
 * forward() (signals held, the runtime's stack; a blocking connect is
 * interruptible like a lock wait).  accept, accept4, recvfrom, recvmsg,
 * sendto and sendmsg may block for ever: they run natively in the program's
 * context (EINTR and SA_RESTART as the kernel gives them) and only the short
 * fix-up afterwards holds signals.
 */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ferry/log.h>
#include <ferry/proto.h>

#include "env.h"
#include "forward.h"
#include "intercept.h"
#include "policy.h"
#include "raw_syscall.h"
#include "runtime_fds.h"
#include "session.h"

pthread_mutex_t cnk_sock_lock = PTHREAD_MUTEX_INITIALIZER;
struct cnk_sock *cnk_sock_list;
_Atomic int cnk_sock_count;
_Atomic int cnk_sock_listeners;

/* Descriptor numbers that may be forwarded sockets (set when one is put
 * there, cleared when a lookup finds something else). */
#define SOCK_FD_BITS 1024
static _Atomic uint64_t sock_fd_bits[SOCK_FD_BITS / 64];

static bool sock_on;
static bool sock_bind_forward; /* FERRY_SOCKET_BIND=forward */

/* ---- policy: which destinations are local ---- */

struct sock_net {
	int family;
	uint8_t addr[16];
	unsigned prefix;
};

#define SOCK_NETS_MAX 64
struct sock_nets {
	int count;
	struct sock_net net[SOCK_NETS_MAX];
};

static struct sock_nets nets_local_env;  /* FERRY_SOCKET_LOCAL */
static struct sock_nets nets_forward_env; /* FERRY_SOCKET_FORWARD */
static struct sock_nets nets_ifaces;      /* this node's interfaces */
/* 0: not read yet, 1: being read, 2: read. */
static _Atomic int ifaces_state;

#define SIGBIT(s) (1ull << ((s)-1))
static const uint64_t sock_held_signals =
	~(SIGBIT(SIGSYS) | SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) | SIGBIT(SIGILL) | SIGBIT(SIGFPE) |
	  SIGBIT(SIGTRAP) | SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));

static uint64_t signals_hold(void)
{
	uint64_t blocked = sock_held_signals, saved = 0;

	if (cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&blocked, (long)&saved,
			     sizeof(blocked), 0, 0) != 0)
		return ~0ull;
	return saved;
}

static void signals_restore(uint64_t saved)
{
	if (saved != ~0ull)
		cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&saved, 0, sizeof(saved),
				 0, 0);
}

static bool net_match(const struct sock_net *n, int family, const uint8_t *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family)
		return false;
	if (memcmp(n->addr, addr, full))
		return false;
	if (rest && ((n->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))))
		return false;
	return true;
}

static bool nets_match(const struct sock_nets *ns, int family, const uint8_t *addr)
{
	for (int i = 0; i < ns->count; i++)
		if (net_match(&ns->net[i], family, addr))
			return true;
	return false;
}

static void net_add(struct sock_nets *ns, int family, const void *addr, unsigned prefix)
{
	struct sock_net *n;
	unsigned bytes = family == AF_INET ? 4 : 16;

	if (ns->count == SOCK_NETS_MAX)
		return;
	n = &ns->net[ns->count++];
	n->family = family;
	memset(n->addr, 0, sizeof(n->addr));
	memcpy(n->addr, addr, bytes);
	n->prefix = prefix > bytes * 8 ? bytes * 8 : prefix;
}

/* "10.0.0.0/8,fd00::/8": 0 or -EINVAL. */
static int nets_parse(struct sock_nets *ns, const char *spec)
{
	while (spec && *spec) {
		size_t len = strcspn(spec, ", ");
		char item[64], *slash;
		uint8_t addr[16];
		unsigned long prefix;
		int family;

		if (len == 0) {
			spec++;
			continue;
		}
		if (len >= sizeof(item))
			return -EINVAL;
		memcpy(item, spec, len);
		item[len] = '\0';
		spec += len;
		slash = strchr(item, '/');
		if (slash)
			*slash++ = '\0';
		family = strchr(item, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(family, item, addr) != 1)
			return -EINVAL;
		prefix = family == AF_INET ? 32 : 128;
		if (slash) {
			char *end;

			prefix = strtoul(slash, &end, 10);
			if (*end || end == slash || prefix > (family == AF_INET ? 32u : 128u))
				return -EINVAL;
		}
		if (ns->count == SOCK_NETS_MAX)
			return -E2BIG;
		net_add(ns, family, addr, (unsigned)prefix);
	}
	return 0;
}

static unsigned mask_prefix(const uint8_t *mask, unsigned bytes)
{
	unsigned p = 0;

	for (unsigned i = 0; i < bytes; i++)
		p += (unsigned)__builtin_popcount(mask[i]);
	return p;
}

/* This node's addresses and the networks of its interfaces: the cluster
 * network stays native.  Read once, at the first connect that needs it. */
static void ifaces_read(void)
{
	struct ifaddrs *list, *i;
	int expect = 0;

	if (atomic_load(&ifaces_state) == 2)
		return;
	if (!atomic_compare_exchange_strong(&ifaces_state, &expect, 1)) {
		while (atomic_load(&ifaces_state) != 2)
			cnk_raw_syscall(SYS_sched_yield, 0, 0, 0);
		return;
	}
	if (getifaddrs(&list) == 0) {
		for (i = list; i; i = i->ifa_next) {
			if (!i->ifa_addr)
				continue;
			if (i->ifa_addr->sa_family == AF_INET) {
				const struct sockaddr_in *a = (const void *)i->ifa_addr;
				const struct sockaddr_in *m = (const void *)i->ifa_netmask;
				unsigned p = m ? mask_prefix((const uint8_t *)&m->sin_addr, 4) : 32;

				net_add(&nets_ifaces, AF_INET, &a->sin_addr, p);
			} else if (i->ifa_addr->sa_family == AF_INET6) {
				const struct sockaddr_in6 *a = (const void *)i->ifa_addr;
				const struct sockaddr_in6 *m = (const void *)i->ifa_netmask;
				unsigned p = m ? mask_prefix((const uint8_t *)&m->sin6_addr, 16) : 128;

				net_add(&nets_ifaces, AF_INET6, &a->sin6_addr, p);
			}
		}
		freeifaddrs(list);
	}
	atomic_store(&ifaces_state, 2);
}

/* The address bytes of an AF_INET/AF_INET6 sockaddr, v4-mapped IPv6 as
 * IPv4.  The family, or 0 for anything else. */
static int sockaddr_ip(const void *sa, socklen_t len, uint8_t out[16], uint16_t *port)
{
	sa_family_t family;

	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return 0;
	memcpy(&family, sa, sizeof(family));
	if (family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;

		memcpy(&in, sa, sizeof(in));
		memcpy(out, &in.sin_addr, 4);
		*port = ntohs(in.sin_port);
		return AF_INET;
	}
	if (family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;

		memcpy(&in6, sa, sizeof(in6));
		*port = ntohs(in6.sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
			memcpy(out, &in6.sin6_addr.s6_addr[12], 4);
			return AF_INET;
		}
		memcpy(out, &in6.sin6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

/* Loopback, unspecified, link-local, multicast and broadcast never leave
 * this node (or its link). */
static bool ip_always_local(int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	if (family == AF_INET)
		return a[0] == 127 || a[0] == 0 || (a[0] == 169 && a[1] == 254) ||
		       a[0] >= 224;
	return !memcmp(a, zero, 15) /* :: and ::1 */ || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	       a[0] == 0xff;
}

/* Is a connect to this address forwarded?  (Called lock-free from the
 * dispatcher; the interface list is read once, signals held.) */
static bool connect_forwarded(const void *sa, socklen_t len)
{
	uint8_t ip[16];
	uint16_t port;
	int family = sockaddr_ip(sa, len, ip, &port);

	if (!family)
		return false;
	if (nets_match(&nets_forward_env, family, ip))
		return true;
	if (ip_always_local(family, ip) || nets_match(&nets_local_env, family, ip))
		return false;
	if (atomic_load(&ifaces_state) != 2) {
		uint64_t saved = signals_hold();

		ifaces_read();
		signals_restore(saved);
	}
	return !nets_match(&nets_ifaces, family, ip);
}

/* bind(INADDR_ANY or in6addr_any, port != 0) is forwarded (and done
 * natively too, unless FERRY_SOCKET_BIND=forward). */
static bool bind_forwarded(const void *sa, socklen_t len)
{
	static const uint8_t zero[16];
	uint8_t ip[16];
	uint16_t port = 0;
	int family = sockaddr_ip(sa, len, ip, &port);

	if (!family || port == 0)
		return false;
	/* ::ffff:0.0.0.0 is not "any": only the family's own any counts. */
	if (family == AF_INET) {
		sa_family_t f;

		memcpy(&f, sa, sizeof(f));
		return f == AF_INET && !memcmp(ip, zero, 4);
	}
	return !memcmp(ip, zero, 16);
}

/* ---- the bitmap and the table ---- */

static bool fd_maybe(long fd)
{
	if (fd < 0)
		return false;
	if (fd >= SOCK_FD_BITS)
		return atomic_load_explicit(&cnk_sock_count, memory_order_relaxed) > 0;
	return atomic_load_explicit(&sock_fd_bits[fd / 64], memory_order_relaxed) &
	       (1ull << (fd % 64));
}

static void fd_mark(int fd)
{
	if (fd >= 0 && fd < SOCK_FD_BITS)
		atomic_fetch_or(&sock_fd_bits[fd / 64], 1ull << (fd % 64));
}

static void fd_unmark(int fd)
{
	if (fd >= 0 && fd < SOCK_FD_BITS)
		atomic_fetch_and(&sock_fd_bits[fd / 64], ~(1ull << (fd % 64)));
}

static uint64_t fd_ino(int fd)
{
	struct stat st;

	if (cnk_raw_syscall(SYS_fstat, fd, &st, 0) != 0 || !S_ISSOCK(st.st_mode))
		return 0;
	return st.st_ino;
}

static struct cnk_sock *by_ino(uint64_t ino)
{
	for (struct cnk_sock *s = cnk_sock_list; ino && s; s = s->next)
		if (s->ino == ino)
			return s;
	return NULL;
}

struct cnk_sock *cnk_sock_by_handle(int64_t handle)
{
	for (struct cnk_sock *s = cnk_sock_list; handle >= 0 && s; s = s->next)
		if (s->handle == handle && !s->inherited)
			return s;
	return NULL;
}

/* Names kept for closed sockets (the program may still ask): the oldest go
 * beyond this many. */
#define SOCK_CLOSED_KEEP 256

void cnk_sock_insert(struct cnk_sock *s)
{
	s->next = cnk_sock_list;
	cnk_sock_list = s;
	atomic_fetch_add(&cnk_sock_count, 1);
}

void cnk_sock_free(struct cnk_sock *s)
{
	free(s->rx);
	free(s->froms);
	free(s);
}

/* The entry of the forwarded socket at fd (under the lock), or NULL; a
 * number that is no forwarded socket any more loses its bit. */
static struct cnk_sock *lookup_fd(int fd)
{
	uint64_t ino = fd_ino(fd);
	struct cnk_sock *s = by_ino(ino);

	if (!s && fd_maybe(fd) && fd < SOCK_FD_BITS) {
		fd_unmark(fd);
		/* A socket put there meanwhile keeps its bit. */
		if (by_ino(fd_ino(fd)))
			fd_mark(fd);
	}
	return s;
}

static struct cnk_sock *sock_new(int domain, int type, int protocol)
{
	struct cnk_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->handle = -1;
	s->pump_fd = -1;
	s->listener = -1;
	s->domain = domain;
	s->type = type;
	s->protocol = protocol;
	return s;
}

/* ---- settings ---- */

int cnk_sock_init(void)
{
	const char *ionode = cnk_env_get("FERRY_IONODE");
	const char *onoff = cnk_env_get("FERRY_SOCKETS");
	const char *local = cnk_env_get("FERRY_SOCKET_LOCAL");
	const char *fwd = cnk_env_get("FERRY_SOCKET_FORWARD");
	const char *bind = cnk_env_get("FERRY_SOCKET_BIND");

	sock_on = false;
	if (onoff && (!strcmp(onoff, "off") || !strcmp(onoff, "0")))
		return 0;
	if (onoff && *onoff && strcmp(onoff, "on") && strcmp(onoff, "1")) {
		FLOG_ERR(0, 0, "FERRY_SOCKETS=\"%s\": expected on or off", onoff);
		return -EINVAL;
	}
	if (nets_parse(&nets_local_env, local) < 0) {
		FLOG_ERR(0, 0, "FERRY_SOCKET_LOCAL=\"%s\": expected CIDRs separated by ','", local);
		return -EINVAL;
	}
	if (nets_parse(&nets_forward_env, fwd) < 0) {
		FLOG_ERR(0, 0, "FERRY_SOCKET_FORWARD=\"%s\": expected CIDRs separated by ','", fwd);
		return -EINVAL;
	}
	if (bind && *bind && strcmp(bind, "hybrid") && strcmp(bind, "forward")) {
		FLOG_ERR(0, 0, "FERRY_SOCKET_BIND=\"%s\": expected hybrid or forward", bind);
		return -EINVAL;
	}
	sock_bind_forward = bind && !strcmp(bind, "forward");
	sock_on = ionode && *ionode;
	return 0;
}

bool cnk_sock_enabled(void)
{
	return sock_on;
}

bool cnk_sock_active(void)
{
	return atomic_load(&cnk_sock_pump_running);
}

bool cnk_sock_wants(long nr, const long *a)
{
	switch (nr) {
	case SYS_connect:
		return connect_forwarded((const void *)a[1], (socklen_t)a[2]) || fd_maybe(a[0]);
	case SYS_bind:
		return bind_forwarded((const void *)a[1], (socklen_t)a[2]);
	case SYS_listen:
		return fd_maybe(a[0]);
	case SYS_accept:
	case SYS_accept4:
		return atomic_load_explicit(&cnk_sock_listeners, memory_order_relaxed) > 0;
	case SYS_getsockname:
	case SYS_getpeername:
	case SYS_getsockopt:
	case SYS_setsockopt:
		/* A dup of a forwarded socket has another number: look. */
		return atomic_load_explicit(&cnk_sock_count, memory_order_relaxed) > 0;
	case SYS_recvfrom:
		return a[4] && fd_maybe(a[0]);
	case SYS_sendto:
		/* A datagram to an outside host from a socket of this node's
		 * makes it an unconnected forwarded one (cnk_sock_send). */
		return a[4] && (fd_maybe(a[0]) ||
				connect_forwarded((const void *)a[4], (socklen_t)a[5]));
	case SYS_recvmsg:
	case SYS_sendmsg:
		return fd_maybe(a[0]);
	default:
		return false;
	}
}

/* ---- the session ---- */

static pthread_mutex_t sock_session_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sock_session_opened;

/* With files forwarded the session is set up (and opens at the first
 * forwarded call, perhaps this one); otherwise it is set up and opened with
 * the first forwarded socket. */
int cnk_sock_session(void)
{
	int ret = 0;

	if (cnk_policy_enabled())
		return cnk_session_claim() < 0 ? -ENETUNREACH : 0;
	pthread_mutex_lock(&sock_session_lock);
	if (!sock_session_opened) {
		ret = cnk_session_init(true);
		sock_session_opened = ret == 0;
	}
	pthread_mutex_unlock(&sock_session_lock);
	return ret < 0 ? -ENETUNREACH : 0;
}

long cnk_sock_remote_open(uint16_t op, const struct cnk_sock *s, const void *addr, socklen_t len,
			  int timeout, struct sockaddr_storage *local, socklen_t *local_len)
{
	struct ferry_msg m;
	size_t got = 0;
	long ret;

	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, s->domain);
	ferry_msg_add_arg(&m, s->type);
	ferry_msg_add_arg(&m, s->protocol);
	m.data = addr;
	m.data_len = (uint32_t)len;
	ret = cnk_sock_call(&m, local, sizeof(*local), &got, timeout);
	*local_len = (socklen_t)got;
	return ret;
}

int cnk_sock_remote_simple(uint16_t op, int64_t a0, int64_t a1, int64_t a2)
{
	struct ferry_msg m;

	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, a0);
	if (op != FERRY_OP_CLOSE) {
		ferry_msg_add_arg(&m, a1);
		if (op == FERRY_OP_SOCK_LISTEN)
			ferry_msg_add_arg(&m, a2);
	}
	return (int)cnk_sock_call(&m, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

int cnk_sock_send_credit(const int64_t *pairs, size_t npairs)
{
	uint8_t buf[64 * 2 * FERRY_WIRE_I64_SIZE];
	struct ferry_msg m;
	size_t len;

	while (npairs) {
		size_t n = npairs > 64 ? 64 : npairs;
		long ret;

		len = ferry_i64s_encode(pairs, 2 * n, buf, sizeof(buf));
		cnk_session_msg(&m, FERRY_OP_SOCK_CREDIT);
		m.data = buf;
		m.data_len = (uint32_t)len;
		ret = cnk_sock_call(&m, NULL, 0, NULL, CNK_CALL_DEFAULT);
		if (ret < 0)
			return (int)ret;
		pairs += 2 * n;
		npairs -= n;
	}
	return 0;
}

/* ---- helpers on the program's socket ---- */

static int sockopt_int(int fd, int level, int name, int *value)
{
	socklen_t len = sizeof(*value);

	return (int)cnk_raw_syscall6(SYS_getsockopt, fd, level, name, (long)value, (long)&len, 0);
}

/* Copy a name to the caller's (addr, *addrlen), truncating as the kernel. */
static long put_name(void *addr, socklen_t *addrlen, const struct sockaddr_storage *name,
		     socklen_t len)
{
	if (!addr || !addrlen)
		return addr || addrlen ? -EFAULT : 0;
	if ((int)*addrlen < 0)
		return -EINVAL;
	memcpy(addr, name, *addrlen < len ? *addrlen : len);
	*addrlen = len;
	return 0;
}

static void loopback_of(int family, struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in->sin_port = htons(port);
		*len = sizeof(*in);
	}
}

/* The family's unspecified address, port 0. */
static void any_of(int family, struct sockaddr_storage *ss, socklen_t *len)
{
	loopback_of(family, ss, len, 0);
	memset(family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)ss)->sin6_addr
				  : (void *)&((struct sockaddr_in *)ss)->sin_addr,
	       0, family == AF_INET6 ? 16 : 4);
}

/* The program end goes to the program's descriptor number, with its
 * close-on-exec and O_NONBLOCK, and its receive/send timeouts. */
static int install_end(int fd, int end, int fd_flags, int fl_flags)
{
	static const int timeouts[] = { SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD };
	long ret;

	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		struct timeval tv;
		socklen_t len = sizeof(tv);

		if (cnk_raw_syscall6(SYS_getsockopt, fd, SOL_SOCKET, timeouts[i], (long)&tv,
				     (long)&len, 0) == 0 &&
		    (tv.tv_sec || tv.tv_usec))
			cnk_raw_syscall6(SYS_setsockopt, end, SOL_SOCKET, timeouts[i], (long)&tv,
					 sizeof(tv), 0);
	}
	ret = cnk_raw_syscall6(SYS_fcntl, end, F_SETFL, fl_flags & O_NONBLOCK, 0, 0, 0);
	if (ret == 0)
		ret = cnk_raw_syscall(SYS_dup3, end, fd, (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
	cnk_raw_syscall(SYS_close, end, 0, 0);
	return ret < 0 ? (int)ret : 0;
}

/* A socketpair for a connected socket: sv[0] the program's, sv[1] the
 * pump's (non-blocking, close-on-exec, away from the low numbers). */
static int make_pair(int type, int sv[2])
{
	int kind = type == SOCK_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
	long ret = cnk_raw_syscall6(SYS_socketpair, AF_UNIX, kind | SOCK_CLOEXEC | SOCK_NONBLOCK,
				    0, (long)sv, 0, 0);
	long high;

	if (ret < 0)
		return (int)ret;
	high = cnk_raw_syscall(SYS_fcntl, sv[1], F_DUPFD_CLOEXEC, CNK_RUNTIME_FD_LOW);
	if (high >= 0) {
		cnk_raw_syscall(SYS_close, sv[1], 0, 0);
		sv[1] = (int)high;
	}
	return 0;
}

/* Fill the program end until it is not writable: POLLOUT then means
 * "connected" (the pump drops exactly this many filler bytes). */
static size_t fill_end(int end, int type)
{
	static const char filler[16384];
	size_t total = 0;

	for (;;) {
		long n = cnk_raw_syscall6(SYS_sendto, end, (long)filler,
					  type == SOCK_STREAM ? sizeof(filler) : 1,
					  MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);

		if (n <= 0)
			break;
		total += type == SOCK_STREAM ? (size_t)n : 1;
	}
	return total;
}

/* ---- connect ---- */

/* Options a program set before connect (on the native socket) that must
 * hold on the I/O node's socket too: read before the socket is replaced,
 * set once it is connected. */
static const struct {
	int level, name;
} carried_options[] = { { IPPROTO_TCP, TCP_NODELAY }, { SOL_SOCKET, SO_KEEPALIVE } };

static unsigned carried_read(int fd, int type)
{
	unsigned carry = 0;

	for (unsigned i = 0; i < sizeof(carried_options) / sizeof(carried_options[0]); i++) {
		int value = 0;

		if ((type == SOCK_STREAM || carried_options[i].level != IPPROTO_TCP) &&
		    sockopt_int(fd, carried_options[i].level, carried_options[i].name, &value) == 0 &&
		    value)
			carry |= 1u << i;
	}
	return carry;
}

void cnk_sock_carry_options(int64_t handle, unsigned carry)
{
	for (unsigned i = 0; i < sizeof(carried_options) / sizeof(carried_options[0]); i++) {
		struct ferry_msg m;
		int32_t one = 1;

		if (!(carry & (1u << i)))
			continue;
		cnk_session_msg(&m, FERRY_OP_SOCK_SETOPT);
		ferry_msg_add_arg(&m, handle);
		ferry_msg_add_arg(&m, carried_options[i].level);
		ferry_msg_add_arg(&m, carried_options[i].name);
		m.data = &one;
		m.data_len = sizeof(one);
		cnk_sock_call(&m, NULL, 0, NULL, CNK_CALL_DEFAULT);
	}
}

/* Before fd becomes a forwarded socket: its descriptor flags (kept for the
 * program's end), the session and the pump.  0 or -errno. */
static long sock_begin(int fd, int *fd_flags, int *fl_flags)
{
	long ret;

	*fd_flags = (int)cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0);
	*fl_flags = (int)cnk_raw_syscall(SYS_fcntl, fd, F_GETFL, 0);
	if (*fd_flags < 0 || *fl_flags < 0)
		return *fd_flags < 0 ? *fd_flags : *fl_flags;
	ret = cnk_sock_session();
	if (ret == 0)
		ret = cnk_sock_pump_start();
	return ret;
}

/*
 * s has its handle at the I/O node: give it a pump end, put the program's
 * end at fd (its flags kept) and enter s in the table in state, the pump
 * watching it.  0, or -errno: s is then freed (and its handle closed), or
 * in the table marked dead for the sender to close.
 */
static long attach_end(struct cnk_sock *s, int fd, int fd_flags, int fl_flags,
		       enum cnk_sock_state state)
{
	int64_t handle = s->handle;
	uint64_t ino;
	int sv[2];
	long ret = make_pair(s->type, sv);

	if (ret < 0) {
		cnk_sock_remote_simple(FERRY_OP_CLOSE, handle, 0, 0);
		cnk_sock_free(s);
		return ret;
	}
	s->pump_fd = sv[1];
	s->state = state;
	cnk_sock_carry_options(handle, carried_read(fd, s->type));
	ret = install_end(fd, sv[0], fd_flags, fl_flags);
	ino = ret == 0 ? fd_ino(fd) : 0;
	pthread_mutex_lock(&cnk_sock_lock);
	s->ino = ino;
	if (ret < 0)
		s->dead = true; /* the sender closes the handle */
	cnk_sock_insert(s);
	cnk_sock_pump_adopt_pending(s);
	pthread_mutex_unlock(&cnk_sock_lock);
	cnk_sock_pump_wake();
	if (ret < 0)
		return ret;
	fd_mark(fd);
	cnk_sock_pump_kick(handle);
	return 0;
}

static long connect_existing(struct cnk_sock *s)
{
	long ret;

	switch (s->state) {
	case CNK_SOCK_CONNECTING:
		return -EALREADY;
	case CNK_SOCK_FAILED:
		/* The error once (as the kernel's sk_err), then a new try. */
		ret = s->error ? -s->error : 1;
		s->error = 0;
		return ret;
	case CNK_SOCK_BOUND:
	case CNK_SOCK_LISTENING:
		return 1; /* the native socket answers */
	default:
		return -EISCONN;
	}
}

long cnk_fwd_sock_connect(long nr, const long *a)
{
	int fd = (int)a[0], domain = 0, type = 0, protocol = 0, fd_flags, fl_flags, sv[2];
	const void *addr = (const void *)a[1];
	socklen_t addrlen = (socklen_t)a[2];
	struct cnk_sock *s, *old;
	int64_t handle;
	uint64_t ino;
	long ret;

	pthread_mutex_lock(&cnk_sock_lock);
	old = lookup_fd(fd);
	if (old) {
		ret = connect_existing(old);
		if (ret <= 0 || old->state == CNK_SOCK_BOUND || old->state == CNK_SOCK_LISTENING) {
			pthread_mutex_unlock(&cnk_sock_lock);
			return ret <= 0 ? ret : cnk_native(nr, a);
		}
		domain = old->domain;
		type = old->type;
		protocol = old->protocol;
		old->ino = 0; /* replaced below */
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	if (!connect_forwarded(addr, addrlen))
		return old ? -EISCONN : cnk_native(nr, a);
	if (!old && (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0 ||
		     sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) != 0 ||
		     sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &protocol) != 0))
		return cnk_native(nr, a);
	if ((domain != AF_INET && domain != AF_INET6) || (type != SOCK_STREAM && type != SOCK_DGRAM))
		return cnk_native(nr, a);
	if (((const struct sockaddr *)addr)->sa_family != domain)
		return cnk_native(nr, a); /* the kernel's EAFNOSUPPORT / EINVAL */
	ret = sock_begin(fd, &fd_flags, &fl_flags);
	if (ret < 0)
		return ret;
	s = sock_new(domain, type, protocol);
	if (!s)
		return -ENOMEM;
	memcpy(&s->peer, addr, addrlen < sizeof(s->peer) ? addrlen : sizeof(s->peer));
	s->peer_len = addrlen < sizeof(s->peer) ? addrlen : sizeof(s->peer);

	if ((fl_flags & O_NONBLOCK) && type == SOCK_STREAM) {
		/* The pump connects; POLLOUT once it has (the filler goes). */
		ret = make_pair(type, sv);
		if (ret < 0)
			goto fail;
		s->carry = carried_read(fd, type);
		s->fill = fill_end(sv[0], type);
		s->filling = true;
		s->pump_fd = sv[1];
		s->state = CNK_SOCK_CONNECTING;
		ret = install_end(fd, sv[0], fd_flags, fl_flags);
		if (ret < 0) {
			cnk_raw_syscall(SYS_close, sv[1], 0, 0);
			goto fail;
		}
		ino = fd_ino(fd);
		pthread_mutex_lock(&cnk_sock_lock);
		s->ino = ino;
		cnk_sock_insert(s);
		pthread_mutex_unlock(&cnk_sock_lock);
		fd_mark(fd);
		ret = cnk_sock_pump_connect_async(s);
		if (ret < 0) {
			pthread_mutex_lock(&cnk_sock_lock);
			s->state = CNK_SOCK_FAILED;
			s->error = (int)-ret;
			s->dead = true;
			pthread_mutex_unlock(&cnk_sock_lock);
			cnk_sock_pump_wake();
		}
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
			   "connect(%d): forwarded, in progress (%zu filler bytes)", fd, s->fill);
		return -EINPROGRESS;
	}

	ret = cnk_sock_remote_open(FERRY_OP_SOCK_CONNECT, s, addr, addrlen, CNK_CALL_INTERRUPTIBLE,
				   &s->local,
				      &s->local_len);
	if (ret < 0) {
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(), "connect(%d): forwarded: %s", fd,
			   strerror((int)-ret));
		goto fail;
	}
	s->handle = handle = ret;
	ret = attach_end(s, fd, fd_flags, fl_flags, CNK_SOCK_CONNECTED);
	if (ret < 0)
		return ret;
	FLOG_DEBUG(cnk_session_id(), cnk_session_job(), "connect(%d): forwarded, handle %lld", fd,
		   (long long)handle);
	return 0;
fail:
	cnk_sock_free(s);
	return ret;
}

/* ---- unconnected UDP ---- */

/*
 * An unconnected UDP socket at the I/O node (SOCK_BIND to addr: the job's
 * port, or the family's any address and port 0 for a socket that only
 * sends), its end at the program's fd: datagrams come in through the pump
 * with their sources noted; each send names its destination and is one
 * SOCK_SEND (datagram_send).  The handle, or -errno: the program's socket
 * is then left as it was.
 */
static long datagram_open(int fd, int domain, int protocol, const void *addr, socklen_t addrlen)
{
	int fd_flags, fl_flags;
	struct cnk_sock *s;
	int64_t handle;
	long ret;

	ret = sock_begin(fd, &fd_flags, &fl_flags);
	if (ret < 0)
		return ret;
	s = sock_new(domain, SOCK_DGRAM, protocol);
	if (!s)
		return -ENOMEM;
	ret = cnk_sock_remote_open(FERRY_OP_SOCK_BIND, s, addr, addrlen, CNK_CALL_DEFAULT, &s->local,
				   &s->local_len);
	if (ret < 0) {
		cnk_sock_free(s);
		return ret;
	}
	s->handle = handle = ret;
	ret = attach_end(s, fd, fd_flags, fl_flags, CNK_SOCK_DATAGRAM);
	if (ret < 0)
		return ret;
	FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
		   "fd %d: unconnected UDP through the I/O node, handle %lld", fd,
		   (long long)handle);
	return handle;
}

/* One datagram to dest through the I/O node: the bytes sent or -errno. */
static long datagram_send(int64_t handle, int flags, const void *dest, socklen_t destlen,
			  const struct iovec *iov, size_t iovcnt)
{
	size_t total = 0, off, cap, map_len = 0;
	uint8_t small[2048], *buf = small;
	struct ferry_msg m;
	long ret;

	if (destlen > FERRY_SOCKADDR_MAX)
		return -EINVAL;
	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	cap = cnk_session_inline_max();
	if (total > 65507 || destlen + total > cap)
		return -EMSGSIZE;
	if (destlen + total > sizeof(small)) {
		long map;

		map_len = destlen + total;
		map = cnk_raw_syscall6(SYS_mmap, 0, (long)map_len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (map < 0 && map > -4096)
			return map;
		buf = (uint8_t *)map;
	}
	memcpy(buf, dest, destlen);
	off = destlen;
	for (size_t i = 0; i < iovcnt; i++) {
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	cnk_session_msg(&m, FERRY_OP_SOCK_SEND);
	ferry_msg_add_arg(&m, handle);
	ferry_msg_add_arg(&m, flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL));
	ferry_msg_add_arg(&m, destlen);
	m.data = buf;
	m.data_len = (uint32_t)off;
	ret = cnk_sock_call(&m, NULL, 0, NULL, CNK_CALL_DEFAULT);
	if (map_len)
		cnk_raw_syscall(SYS_munmap, (long)buf, (long)map_len, 0);
	return ret;
}

/* ---- bind, listen, accept ---- */

/* The port of a bind's address; 65536 (the I/O node judges) when too short. */
static unsigned int bind_port(const void *addr, socklen_t len)
{
	uint8_t ip[16];
	uint16_t port;

	return sockaddr_ip(addr, len, ip, &port) ? port : 65536;
}

long cnk_fwd_sock_bind(long nr, const long *a)
{
	int fd = (int)a[0], domain, type, protocol;
	const void *addr = (const void *)a[1];
	socklen_t addrlen = (socklen_t)a[2], len;
	struct sockaddr_storage native;
	struct cnk_sock *s;
	unsigned int port;
	long ret;

	if (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0 ||
	    sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) != 0 ||
	    sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &protocol) != 0 ||
	    (type != SOCK_STREAM && type != SOCK_DGRAM) ||
	    (domain != AF_INET && domain != AF_INET6) ||
	    ((const struct sockaddr *)addr)->sa_family != domain)
		return cnk_native(nr, a);
	ret = cnk_sock_session();
	if (ret < 0)
		return ret;
	port = bind_port(addr, addrlen);
	if (!sock_bind_forward && cnk_session_port_bindable(port) == 0) {
		/* Hybrid: not a port of the job's at the I/O node; the rank
		 * listens on its own node, as MPI's TCP transports do on the
		 * ports they pick, without a round trip to be refused. */
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
			   "bind(%d): port %u is not the job's at the I/O node: this node only", fd,
			   port);
		return cnk_native(nr, a);
	}
	if (type == SOCK_DGRAM) {
		/* A UDP port of the job's: its datagrams come through the I/O
		 * node, with their sources, and replies name them. */
		ret = datagram_open(fd, domain, protocol, addr, addrlen);
		if ((ret == -EACCES || ret == -EADDRINUSE) && !sock_bind_forward) {
			FLOG_INFO(cnk_session_id(), cnk_session_job(),
				  "bind(%d): the I/O node refuses UDP port %u (%s): this node only",
				  fd, port, strerror((int)-ret));
			return cnk_native(nr, a);
		}
		if (ret < 0)
			return ret;
		FLOG_INFO(cnk_session_id(), cnk_session_job(),
			  "bind(%d): UDP port %u forwarded to the I/O node", fd, port);
		return 0;
	}
	s = sock_new(domain, type, protocol);
	if (!s)
		return -ENOMEM;
	ret = cnk_sock_remote_open(FERRY_OP_SOCK_BIND, s, addr, addrlen, CNK_CALL_DEFAULT, &s->local,
				   &s->local_len);
	if ((ret == -EACCES || ret == -EADDRINUSE) && !sock_bind_forward) {
		/* Hybrid: the port is not the job's on the I/O node, but the
		 * rank may still listen on its own node, as MPI's TCP
		 * transports do on ports they pick (btl_tcp from 1024 up). */
		FLOG_INFO(cnk_session_id(), cnk_session_job(),
			  "bind(%d): the I/O node refuses the port (%s): listening on this node only",
			  fd, strerror((int)-ret));
		cnk_sock_free(s);
		return cnk_native(nr, a);
	}
	if (ret < 0) {
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(), "bind(%d): the I/O node: %s", fd,
			   strerror((int)-ret));
		cnk_sock_free(s);
		return ret;
	}
	s->handle = ret;
	if (!s->local_len) {
		memcpy(&s->local, addr, addrlen < sizeof(s->local) ? addrlen : sizeof(s->local));
		s->local_len = addrlen;
	}
	if (sock_bind_forward) {
		/* The I/O node owns the port (a daemon on this machine, in
		 * tests): the program listens on loopback for the pump. */
		loopback_of(domain, &native, &len, 0);
		ret = cnk_raw_syscall(SYS_bind, fd, &native, len);
	} else {
		ret = cnk_native(nr, a);
	}
	len = sizeof(native);
	if (ret == 0)
		ret = cnk_raw_syscall(SYS_getsockname, fd, &native, &len);
	if (ret < 0) {
		cnk_sock_remote_simple(FERRY_OP_CLOSE, s->handle, 0, 0);
		cnk_sock_free(s);
		return ret;
	}
	/* The pump reaches the listener over loopback. */
	loopback_of(domain, &s->native, &s->native_len,
		    ntohs(domain == AF_INET6 ? ((struct sockaddr_in6 *)&native)->sin6_port
					     : ((struct sockaddr_in *)&native)->sin_port));
	s->state = CNK_SOCK_BOUND;
	s->ino = fd_ino(fd);
	s->prog_fd = fd;
	pthread_mutex_lock(&cnk_sock_lock);
	cnk_sock_insert(s);
	pthread_mutex_unlock(&cnk_sock_lock);
	fd_mark(fd);
	FLOG_INFO(cnk_session_id(), cnk_session_job(),
		  "bind(%d): port forwarded to the I/O node (handle %lld)%s", fd,
		  (long long)s->handle, sock_bind_forward ? ", native listener on loopback" : "");
	return 0;
}

/* Connections handed over at once (the kernel's backlog holds the rest). */
#define SOCK_ACCEPT_CREDIT_MAX 64

long cnk_fwd_sock_listen(long nr, const long *a)
{
	int fd = (int)a[0], backlog = (int)a[1], credit;
	int64_t handle;
	struct cnk_sock *s;
	long ret;

	pthread_mutex_lock(&cnk_sock_lock);
	s = lookup_fd(fd);
	if (!s || s->state != CNK_SOCK_BOUND) {
		pthread_mutex_unlock(&cnk_sock_lock);
		return cnk_native(nr, a);
	}
	handle = s->handle;
	pthread_mutex_unlock(&cnk_sock_lock);
	ret = cnk_native(nr, a);
	if (ret < 0)
		return ret;
	ret = cnk_sock_pump_start();
	if (ret < 0)
		return ret;
	credit = backlog < 1 ? 1 : backlog > SOCK_ACCEPT_CREDIT_MAX ? SOCK_ACCEPT_CREDIT_MAX : backlog;
	/* Listening before the I/O node hands over anything. */
	pthread_mutex_lock(&cnk_sock_lock);
	s->state = CNK_SOCK_LISTENING;
	atomic_fetch_add(&cnk_sock_listeners, 1);
	pthread_mutex_unlock(&cnk_sock_lock);
	cnk_sock_pump_wake(); /* the sender now looks after listeners */
	ret = cnk_sock_remote_simple(FERRY_OP_SOCK_LISTEN, handle, backlog, credit);
	if (ret < 0) {
		FLOG_WARN(cnk_session_id(), cnk_session_job(),
			  "listen(%d): the I/O node refused (%s): only local clients reach it", fd,
			  strerror((int)-ret));
		return ret;
	}
	FLOG_INFO(cnk_session_id(), cnk_session_job(),
		  "listen(%d): the I/O node accepts for it (handle %lld, %d at a time)", fd,
		  (long long)handle, credit);
	return 0;
}

/* accept/accept4, natively; a connection the pump injected gets its real
 * peer. */
long cnk_sock_accept(long nr, const long *a)
{
	long newfd = cnk_native(nr, a);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct cnk_sock *l, *s;
	uint64_t saved, ino;
	uint8_t ip[16];
	uint16_t port;
	bool wake = false;

	if (newfd < 0)
		return newfd;
	ino = fd_ino((int)a[0]);
	if (cnk_raw_syscall(SYS_getpeername, newfd, &peer, &plen) != 0 ||
	    !sockaddr_ip(&peer, plen, ip, &port) || !ip_always_local(AF_INET, ip))
		return newfd; /* not from loopback: a client of this node */
	saved = signals_hold();
	pthread_mutex_lock(&cnk_sock_lock);
	l = by_ino(ino);
	for (s = cnk_sock_list; l && l->state == CNK_SOCK_LISTENING && s; s = s->next) {
		if (s->listener != l->handle || s->inject_port != port || s->ino)
			continue;
		s->ino = fd_ino((int)newfd);
		wake = true;
		if (a[1])
			put_name((void *)a[1], (socklen_t *)a[2], &s->peer, s->peer_len);
		break;
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	if (wake) {
		fd_mark((int)newfd);
		cnk_sock_pump_wake();
	}
	signals_restore(saved);
	return newfd;
}

/* ---- names and options ---- */

long cnk_fwd_sock_name(long nr, const long *a)
{
	struct sockaddr_storage name;
	socklen_t len = 0;
	struct cnk_sock *s;
	int64_t handle = -1;
	long ret = 0;

	pthread_mutex_lock(&cnk_sock_lock);
	s = lookup_fd((int)a[0]);
	if (!s || s->state == CNK_SOCK_BOUND || (s->state == CNK_SOCK_LISTENING &&
						  nr == SYS_getpeername)) {
		pthread_mutex_unlock(&cnk_sock_lock);
		return cnk_native(nr, a);
	}
	if (nr == SYS_getpeername) {
		if (s->state == CNK_SOCK_CONNECTING || s->state == CNK_SOCK_FAILED ||
		    s->state == CNK_SOCK_DATAGRAM)
			ret = -ENOTCONN;
		name = s->peer;
		len = s->peer_len;
	} else {
		name = s->local;
		len = s->local_len;
		if (!len && !s->inherited)
			handle = s->handle;
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	if (ret < 0)
		return ret;
	if (handle >= 0) {
		/* An accepted connection's own address on the I/O node. */
		struct ferry_msg m;
		size_t got = 0;

		cnk_session_msg(&m, FERRY_OP_SOCK_NAME);
		ferry_msg_add_arg(&m, handle);
		ferry_msg_add_arg(&m, 0);
		ret = cnk_sock_call(&m, &name, sizeof(name), &got, CNK_CALL_DEFAULT);
		if (ret < 0)
			return ret;
		len = (socklen_t)got;
		pthread_mutex_lock(&cnk_sock_lock);
		s->local = name;
		s->local_len = len;
		pthread_mutex_unlock(&cnk_sock_lock);
	}
	if (!len) {
		/* Unknown (a connect still in flight): an unspecified address. */
		any_of(s->domain, &name, &len);
	}
	return put_name((void *)a[1], (socklen_t *)a[2], &name, len);
}

static bool is_timeout_option(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD ||
				       name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW);
}

long cnk_fwd_sock_getsockopt(long nr, const long *a)
{
	int level = (int)a[1], name = (int)a[2], value = -1;
	void *optval = (void *)a[3];
	socklen_t *optlen = (socklen_t *)a[4];
	struct cnk_sock *s;
	int64_t handle;
	struct ferry_msg m;
	size_t got = 0;
	long ret;

	pthread_mutex_lock(&cnk_sock_lock);
	s = lookup_fd((int)a[0]);
	if (!s || s->state == CNK_SOCK_BOUND || s->state == CNK_SOCK_LISTENING ||
	    is_timeout_option(level, name)) {
		pthread_mutex_unlock(&cnk_sock_lock);
		return cnk_native(nr, a);
	}
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR:
			value = s->error;
			s->error = 0;
			break;
		case SO_TYPE:
			value = s->type;
			break;
		case SO_DOMAIN:
			value = s->domain;
			break;
		case SO_PROTOCOL:
			value = s->protocol ? s->protocol
					    : s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
			break;
		case SO_ACCEPTCONN:
			value = 0;
			break;
		default:
			break;
		}
	}
	handle = s->inherited || s->state == CNK_SOCK_CLOSED ? -1 : s->handle;
	pthread_mutex_unlock(&cnk_sock_lock);
	if (value >= 0) {
		if (!optval || !optlen || (int)*optlen < 0)
			return -EFAULT;
		memcpy(optval, &value, *optlen < sizeof(value) ? *optlen : sizeof(value));
		*optlen = *optlen < sizeof(value) ? *optlen : sizeof(value);
		return 0;
	}
	if (handle < 0)
		return -ENOTCONN;
	if (!optlen || (int)*optlen < 0)
		return -EFAULT;
	cnk_session_msg(&m, FERRY_OP_SOCK_GETOPT);
	ferry_msg_add_arg(&m, handle);
	ferry_msg_add_arg(&m, level);
	ferry_msg_add_arg(&m, name);
	ferry_msg_add_arg(&m, *optlen);
	ret = cnk_sock_call(&m, optval, *optlen, &got, CNK_CALL_DEFAULT);
	if (ret < 0)
		return ret;
	*optlen = (socklen_t)got;
	return 0;
}

long cnk_fwd_sock_setsockopt(long nr, const long *a)
{
	int level = (int)a[1], name = (int)a[2];
	struct cnk_sock *s;
	int64_t handle;
	struct ferry_msg m;

	pthread_mutex_lock(&cnk_sock_lock);
	s = lookup_fd((int)a[0]);
	if (!s || s->state == CNK_SOCK_BOUND || s->state == CNK_SOCK_LISTENING ||
	    is_timeout_option(level, name)) {
		pthread_mutex_unlock(&cnk_sock_lock);
		return cnk_native(nr, a);
	}
	handle = s->inherited || s->state == CNK_SOCK_CLOSED ? -1 : s->handle;
	pthread_mutex_unlock(&cnk_sock_lock);
	if (handle < 0)
		return cnk_fwd_refuse(nr, s->inherited ? EOPNOTSUPP : ENOTCONN,
				      "an option of a forwarded socket that is not connected "
				      "through this process");
	if ((size_t)a[4] > FERRY_SOCKADDR_MAX)
		return -EINVAL;
	cnk_session_msg(&m, FERRY_OP_SOCK_SETOPT);
	ferry_msg_add_arg(&m, handle);
	ferry_msg_add_arg(&m, level);
	ferry_msg_add_arg(&m, name);
	m.data = (const void *)a[3];
	m.data_len = (uint32_t)a[4];
	return cnk_sock_call(&m, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

/* ---- datagram addresses ---- */

/* The source of the datagram a receive just got (len bytes, starting with
 * head[0..head_len)) from an unconnected socket's record (under the lock):
 * the first entry that matches; older ones were read without their source
 * (read, recv).  peek leaves the entry.  false when none matches. */
static bool datagram_source(struct cnk_sock *s, size_t len, const uint8_t *head, size_t head_len,
			    bool peek, struct sockaddr_storage *addr, socklen_t *addr_len)
{
	struct cnk_sock_froms *f = s->froms;

	if (head_len > CNK_SOCK_FROM_HEAD)
		head_len = CNK_SOCK_FROM_HEAD;
	for (unsigned i = 0; f && i < f->count; i++) {
		const struct cnk_sock_from *e = &f->e[(f->first + i) % CNK_SOCK_FROM_MAX];
		size_t cmp = head_len < e->len ? head_len : e->len;

		if (len > e->len || memcmp(e->head, head, cmp))
			continue;
		*addr = e->addr;
		*addr_len = e->addr_len;
		if (!peek) {
			f->first = (f->first + i + 1) % CNK_SOCK_FROM_MAX;
			f->count -= i + 1;
		}
		return e->addr_len > 0;
	}
	return false;
}

/* recvfrom/recvmsg, natively; a connected forwarded socket's source is its
 * peer (a connected UDP socket only hears its peer), a stream's is empty
 * (TCP), an unconnected UDP socket's the one its datagram came with. */
long cnk_sock_recv(long nr, const long *a)
{
	struct msghdr *msg = nr == SYS_recvmsg ? (struct msghdr *)a[1] : NULL;
	void *name = msg ? msg->msg_name : (void *)a[4];
	socklen_t *namelen = msg ? &msg->msg_namelen : (socklen_t *)a[5];
	/* The kernel overwrites the length with the AF_UNIX end's (0). */
	socklen_t cap = name && namelen ? *namelen : 0;
	int flags = (int)(msg ? a[2] : a[3]);
	long ret = cnk_native(nr, a);
	struct sockaddr_storage from;
	socklen_t from_len = 0;
	struct cnk_sock *s;
	uint64_t saved;

	if (ret < 0 || !name || !namelen)
		return ret;
	saved = signals_hold();
	pthread_mutex_lock(&cnk_sock_lock);
	s = lookup_fd((int)a[0]);
	if (s && s->state == CNK_SOCK_DATAGRAM) {
		const uint8_t *head = msg ? (msg->msg_iovlen ? msg->msg_iov[0].iov_base : NULL)
					  : (const uint8_t *)a[1];
		size_t head_len = msg ? (msg->msg_iovlen ? msg->msg_iov[0].iov_len : 0)
				      : (size_t)a[2];

		if (head_len > (size_t)ret)
			head_len = (size_t)ret;
		*namelen = cap;
		if (datagram_source(s, (size_t)ret, head, head ? head_len : 0,
				    (flags & MSG_PEEK) != 0, &from, &from_len))
			put_name(name, namelen, &from, from_len);
		else
			*namelen = 0;
	} else if (s && s->type == SOCK_DGRAM) {
		*namelen = cap;
		put_name(name, namelen, &s->peer, s->peer_len);
	} else if (s) {
		*namelen = 0;
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	signals_restore(saved);
	return ret;
}

static bool same_address(const void *a, socklen_t alen, const struct sockaddr_storage *b,
			 socklen_t blen)
{
	uint8_t ia[16], ib[16];
	uint16_t pa, pb;
	int fa = sockaddr_ip(a, alen, ia, &pa), fb = sockaddr_ip(b, blen, ib, &pb);

	return fa && fa == fb && pa == pb && !memcmp(ia, ib, fa == AF_INET ? 4 : 16);
}

/* Is fd an AF_INET/AF_INET6 UDP socket of this node's that is not bound
 * nor connected (what a datagram to an outside host may turn into an
 * unconnected forwarded one)?  Its domain and protocol in *domain, *proto. */
static bool fresh_udp_socket(int fd, int *domain, int *protocol)
{
	struct sockaddr_storage name;
	socklen_t len = sizeof(name);
	uint8_t ip[16];
	uint16_t port = 1;
	int type;

	if (sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) != 0 || type != SOCK_DGRAM ||
	    sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, domain) != 0 ||
	    (*domain != AF_INET && *domain != AF_INET6) ||
	    sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, protocol) != 0)
		return false;
	if (cnk_raw_syscall(SYS_getsockname, fd, &name, &len) != 0 ||
	    !sockaddr_ip(&name, len, ip, &port) || port != 0)
		return false;
	len = sizeof(name);
	return cnk_raw_syscall(SYS_getpeername, fd, &name, &len) == -ENOTCONN;
}

struct datagram_call {
	int fd;
	int64_t handle; /* -1: make the socket forwarded first */
	int domain, protocol, flags;
	const void *dest;
	socklen_t destlen;
	const struct iovec *iov;
	size_t iovcnt;
};

static long datagram_call_run(void *arg)
{
	struct datagram_call *dc = arg;

	if (dc->handle < 0) {
		struct sockaddr_storage any;
		socklen_t any_len;

		any_of(dc->domain, &any, &any_len);
		dc->handle = datagram_open(dc->fd, dc->domain, dc->protocol, &any, any_len);
		if (dc->handle < 0)
			return (long)dc->handle;
	}
	return datagram_send(dc->handle, dc->flags, dc->dest, dc->destlen, dc->iov, dc->iovcnt);
}

/* sendto/sendmsg with an address.  On a connected forwarded socket TCP
 * ignores it and UDP may name its peer only (EISCONN otherwise, as an
 * AF_UNIX end answers); on an unconnected forwarded UDP socket it is the
 * datagram's destination at the I/O node; a fresh UDP socket of this node's
 * sending to an outside host becomes an unconnected forwarded one. */
long cnk_sock_send(long nr, const long *a)
{
	const struct msghdr *msg = nr == SYS_sendmsg ? (const struct msghdr *)a[1] : NULL;
	const void *dest = msg ? msg->msg_name : (const void *)a[4];
	socklen_t destlen = msg ? msg->msg_namelen : (socklen_t)a[5];
	struct datagram_call dc = { .fd = (int)a[0], .handle = -1, .dest = dest,
				    .destlen = destlen };
	struct iovec one = { .iov_base = (void *)a[1], .iov_len = (size_t)a[2] };
	struct cnk_sock *s;
	uint64_t saved;
	long b[6];
	bool forwarded = false, strip = false, datagram = false;

	if (!dest)
		return cnk_native(nr, a);
	saved = signals_hold();
	pthread_mutex_lock(&cnk_sock_lock);
	s = lookup_fd((int)a[0]);
	if (s && s->state == CNK_SOCK_DATAGRAM && !s->inherited) {
		datagram = true;
		dc.handle = s->handle;
	} else if (s) {
		forwarded = true;
		strip = s->type == SOCK_STREAM || same_address(dest, destlen, &s->peer, s->peer_len);
	}
	pthread_mutex_unlock(&cnk_sock_lock);
	signals_restore(saved);
	if (!s && nr == SYS_sendto && connect_forwarded(dest, destlen) &&
	    fresh_udp_socket((int)a[0], &dc.domain, &dc.protocol) &&
	    ((const struct sockaddr *)dest)->sa_family == dc.domain)
		datagram = true;
	if (datagram) {
		dc.flags = (int)(msg ? a[2] : a[3]);
		dc.iov = msg ? msg->msg_iov : &one;
		dc.iovcnt = msg ? msg->msg_iovlen : 1;
		/* From the program's context: run as a forwarded call. */
		return cnk_fwd_call_held(datagram_call_run, &dc);
	}
	if (!forwarded)
		return cnk_native(nr, a);
	if (!strip)
		return -EISCONN;
	memcpy(b, a, sizeof(b));
	if (msg) {
		struct msghdr copy = *msg;

		copy.msg_name = NULL;
		copy.msg_namelen = 0;
		b[1] = (long)&copy;
		return cnk_native(nr, b);
	}
	b[4] = 0;
	b[5] = 0;
	return cnk_native(nr, b);
}

/* ---- fork ---- */

void cnk_sock_atfork_prepare(void)
{
	if (sock_on)
		pthread_mutex_lock(&cnk_sock_lock);
}

void cnk_sock_atfork_parent(void)
{
	if (sock_on)
		pthread_mutex_unlock(&cnk_sock_lock);
}
