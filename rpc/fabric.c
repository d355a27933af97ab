/* SPDX-License-Identifier: Apache-2.0 */
/* libfabric set-up, memory registration and completion waiting for rpc/. */
#include "fabric.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ferry/log.h"
#include "ferry/rpc.h"

#define FAB_QUEUE_SIZE 256
#define FAB_CQ_SIZE 4096
#define FAB_AV_COUNT 1024
#define FAB_RMA_CHUNK_MAX (4u << 20)
/* Without a wait fd we sleep in slices this long (µs) between CQ polls. */
/* Without a wait fd (shm) a waiter can only poll and sleep in slices.  A
 * slice is at most 1/8 of the time already spent waiting, between 20 us and
 * 1 ms: a burst of calls is served at once, and an idle daemon or a client
 * in a long call (fsync, a lock) does not wake 50,000 times a second -- on a
 * compute node that would be OS noise for the application. */
#define FAB_POLL_SLICE_MIN_US 20
#define FAB_POLL_SLICE_MAX_US 1000

static int64_t poll_slice_us(uint64_t waited_us)
{
	uint64_t slice = waited_us / 8;

	if (slice < FAB_POLL_SLICE_MIN_US)
		return FAB_POLL_SLICE_MIN_US;
	return slice > FAB_POLL_SLICE_MAX_US ? FAB_POLL_SLICE_MAX_US : (int64_t)slice;
}

/* ---------------- frame header ---------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

void frame_encode(const struct frame_hdr *h, void *buf)
{
	uint8_t *p = buf;

	put_u32(p + 0, FRAME_MAGIC);
	p[4] = FRAME_VERSION;
	p[5] = h->kind;
	p[6] = h->bulk_dir;
	p[7] = 0;
	put_u32(p + 8, h->payload_len);
	put_u32(p + 12, (uint32_t)h->status);
	put_u64(p + 16, h->req_id);
	put_u64(p + 24, h->token);
	put_u64(p + 32, h->bulk_addr);
	put_u64(p + 40, h->bulk_key);
	put_u64(p + 48, h->bulk_len);
}

int frame_decode(const void *buf, size_t len, struct frame_hdr *h)
{
	const uint8_t *p = buf;

	if (len < FRAME_HDR_SIZE || get_u32(p) != FRAME_MAGIC || p[4] != FRAME_VERSION || p[7] != 0)
		return -EBADMSG;
	h->kind = p[5];
	h->bulk_dir = p[6];
	h->payload_len = get_u32(p + 8);
	h->status = (int32_t)get_u32(p + 12);
	h->req_id = get_u64(p + 16);
	h->token = get_u64(p + 24);
	h->bulk_addr = get_u64(p + 32);
	h->bulk_key = get_u64(p + 40);
	h->bulk_len = get_u64(p + 48);
	if (h->kind < FRAME_HELLO || h->kind > FRAME_PING)
		return -EBADMSG;
	if (h->payload_len > FRAME_PAYLOAD_MAX || h->payload_len != len - FRAME_HDR_SIZE)
		return -EBADMSG;
	if (h->bulk_dir > FERRY_BULK_FROM_SERVER)
		return -EBADMSG;
	if ((h->bulk_dir == FERRY_BULK_NONE) != (h->bulk_len == 0))
		return -EBADMSG;
	if (h->bulk_dir != FERRY_BULK_NONE && h->kind != FRAME_REQUEST)
		return -EBADMSG;
	return 0;
}

/* ---------------- errors and time ---------------- */

int fab_errno(ssize_t fi_ret)
{
	ssize_t e = fi_ret < 0 ? -fi_ret : fi_ret;

	if (e == 0)
		return 0;
	if (e == FI_ETRUNC || e == FI_ETOOSMALL)
		return -EMSGSIZE;
	if (e == FI_ECONNRESET || e == FI_ECONNABORTED || e == FI_ENOTCONN || e == FI_ESHUTDOWN ||
	    e == EPIPE)
		return -ECONNRESET;
	if (e < 256)
		return (int)-e;
	return -EIO;
}

int fab_cq_readerr(struct fab *f, struct fi_cq_err_entry *err)
{
	char detail[128] = "";
	ssize_t ret;

	memset(err, 0, sizeof(*err));
	ret = fi_cq_readerr(f->cq, err, 0);
	if (ret < 0)
		return fab_errno(ret);
	if (err->err != FI_ECANCELED && ferry_log_enabled(FERRY_LOG_DEBUG))
		FLOG_DEBUG(0, 0, "rpc: %s completion error: %s (%s)", f->prov, fab_strerror(err->err),
			   fi_cq_strerror(f->cq, err->prov_errno, err->err_data, detail,
					  sizeof(detail)));
	return 1;
}

uint64_t fab_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t fab_random64(void)
{
	uint64_t v = 0;

	/* getrandom on a small buffer does not fail short once the pool is up;
	 * mix the clock in case it ever does. */
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v ^= fab_now_us() * 0x9e3779b97f4a7c15ull;
	return v;
}

/* ---------------- set-up ---------------- */

static struct fi_info *fab_hints(const char *prov, bool is_shm)
{
	struct fi_info *hints = fab_api.dupinfo(NULL);

	if (!hints)
		return NULL;
	hints->fabric_attr->prov_name = strdup(prov);
	if (!hints->fabric_attr->prov_name) {
		fab_api.freeinfo(hints);
		return NULL;
	}
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	/* What we can honour; the provider keeps the bits it needs. */
	hints->mode = FI_CONTEXT | FI_CONTEXT2 | FI_MSG_PREFIX;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
				      FI_MR_PROV_KEY | FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_SAFE;
	hints->domain_attr->data_progress = FI_PROGRESS_MANUAL;
	hints->domain_attr->resource_mgmt = FI_RM_ENABLED;
	hints->domain_attr->av_type = FI_AV_TABLE;
	hints->tx_attr->size = FAB_QUEUE_SIZE;
	hints->rx_attr->size = FAB_QUEUE_SIZE;
	if (is_shm)
		hints->addr_format = FI_ADDR_STR;
	return hints;
}

static int fab_open_cq(struct fab *f, bool want_fd)
{
	struct fi_cq_attr attr = {
		.size = FAB_CQ_SIZE,
		.format = FI_CQ_FORMAT_MSG,
		.wait_obj = want_fd ? FI_WAIT_FD : FI_WAIT_NONE,
	};
	int ret;

	f->cq_wait_fd = -1;
	ret = fi_cq_open(f->domain, &attr, &f->cq, NULL);
	if (ret)
		return ret;
	if (want_fd) {
		ret = fi_control(&f->cq->fid, FI_GETWAIT, &f->cq_wait_fd);
		if (ret) {
			fi_close(&f->cq->fid);
			f->cq = NULL;
			f->cq_wait_fd = -1;
		}
	}
	return ret;
}

int fab_open(struct fab *f, const char *prov, const char *node, const char *service, bool server,
	     fi_addr_t *dest_addr)
{
	bool is_shm = strcmp(prov, "shm") == 0;
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE, .count = FAB_AV_COUNT };
	struct fi_info *hints = NULL;
	const char *svc = (service && service[0]) ? service : NULL;
	const char *step = "fi_fabric";
	struct fab_sigs *sigs;
	int ret;

	memset(f, 0, sizeof(*f));
	f->cq_wait_fd = -1;
	snprintf(f->prov, sizeof(f->prov), "%s", prov);
	ret = fab_load();
	if (ret)
		return ret;
	sigs = fab_sigs_save();
	if (!sigs)
		return -ENOMEM;

	hints = fab_hints(prov, is_shm);
	if (!hints) {
		ret = -ENOMEM;
		goto out;
	}
	ret = fab_api.getinfo(FAB_API_VERSION, node, svc, server ? FI_SOURCE : 0, hints, &f->info);
	if (ret) {
		FLOG_WARN(0, 0, "rpc: fi_getinfo(%s, %s:%s): %s", prov, node, svc ? svc : "",
			  fab_strerror(ret));
		ret = ret == -FI_ENODATA ? -EHOSTUNREACH : fab_errno(ret);
		goto out;
	}
	f->mr_mode = f->info->domain_attr->mr_mode;
	if (f->mr_mode & FI_MR_RAW) {
		FLOG_ERR(0, 0, "rpc: provider %s needs FI_MR_RAW keys, which Ferry does not support",
			 prov);
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (f->info->mode & FI_MSG_PREFIX)
		f->prefix = f->info->ep_attr->msg_prefix_size;
	f->rma_chunk = FAB_RMA_CHUNK_MAX;
	if (f->info->ep_attr->max_msg_size && f->info->ep_attr->max_msg_size < f->rma_chunk)
		f->rma_chunk = f->info->ep_attr->max_msg_size;
	/* Eager threshold.  Measured with ferry-rpc-bench --sweep on shm and
	 * tcp;ofi_rxm: inline stays cheaper than an RMA round trip (worker
	 * hand-off, registration, one more message) up to about 48 KiB on
	 * both; 32 KiB leaves room in a 64 KiB frame for two paths. */
	f->inline_default = 32 * 1024;

	ret = fab_api.fabric(f->info->fabric_attr, &f->fabric, NULL);
	step = "fi_fabric";
	if (ret)
		goto fail;
	ret = fi_domain(f->fabric, f->info, &f->domain, NULL);
	step = "fi_domain";
	if (ret)
		goto fail;
	/* shm caps its AV at its own peer limit: take its default. */
	if (is_shm)
		av_attr.count = 0;
	ret = fi_av_open(f->domain, &av_attr, &f->av, NULL);
	step = "fi_av_open";
	if (ret)
		goto fail;
	/* shm has no wait fd that anyone would signal: poll it instead. */
	ret = is_shm ? -FI_ENOSYS : fab_open_cq(f, true);
	if (ret)
		ret = fab_open_cq(f, false);
	step = "fi_cq_open";
	if (ret)
		goto fail;
	ret = fi_endpoint(f->domain, f->info, &f->ep, NULL);
	step = "fi_endpoint";
	if (ret)
		goto fail;
	ret = fi_ep_bind(f->ep, &f->av->fid, 0);
	step = "fi_ep_bind(av)";
	if (ret)
		goto fail;
	ret = fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV);
	step = "fi_ep_bind(cq)";
	if (ret)
		goto fail;
	if (server && is_shm) {
		/* shm would name the region "NAME:uid:index"; clients know
		 * only NAME, so the endpoint takes exactly that name. */
		ret = fi_setname(&f->ep->fid, (void *)node, strlen(node) + 1);
		step = "fi_setname";
		if (ret)
			goto fail;
	} else if (is_shm) {
		/* shm would name a client's region "pid:uid:index".  A process
		 * that dies without closing (SIGKILL; SIGTERM too, as we do not
		 * keep the provider's cleanup handler) leaves its region, and
		 * the next process to get that pid, or this one after exec,
		 * then fails fi_enable with EBUSY: the region's recorded owner
		 * is alive -- it is us.  A random part makes the name ours. */
		char name[64];

		snprintf(name, sizeof(name), "ferry-%d-%016llx", (int)getpid(),
			 (unsigned long long)fab_random64());
		ret = fi_setname(&f->ep->fid, name, strlen(name) + 1);
		step = "fi_setname";
		if (ret)
			goto fail;
	}
	ret = fi_enable(f->ep);
	step = "fi_enable";
	if (ret)
		goto fail;
	step = "fi_av_insert";
	if (!server) {
		ret = fi_av_insert(f->av, f->info->dest_addr, 1, dest_addr, 0, NULL);
		if (ret != 1) {
			ret = ret < 0 ? ret : -FI_EHOSTUNREACH;
			goto fail;
		}
	}
	ret = 0;
	goto out;
fail:
	FLOG_WARN(0, 0, "rpc: opening %s endpoint for %s%s%s: %s: %s", prov, node, svc ? ":" : "",
		  svc ? svc : "", step, fab_strerror(ret));
	ret = fab_errno(ret);
	if (ret == -ENOENT || ret == -ENODATA)
		ret = -EHOSTUNREACH;
	fab_close(f);
out:
	if (hints)
		fab_api.freeinfo(hints);
	fab_sigs_restore(sigs);
	return ret;
}

static void close_fid(struct fid *fid)
{
	if (fid)
		fi_close(fid);
}

void fab_close(struct fab *f)
{
	if (f->ep)
		close_fid(&f->ep->fid);
	if (f->cq)
		close_fid(&f->cq->fid);
	if (f->av)
		close_fid(&f->av->fid);
	if (f->domain)
		close_fid(&f->domain->fid);
	if (f->fabric)
		close_fid(&f->fabric->fid);
	if (f->info)
		fab_api.freeinfo(f->info);
	memset(f, 0, sizeof(*f));
	f->cq_wait_fd = -1;
}

void fab_close_endpoint(struct fab *f)
{
	if (f->ep)
		close_fid(&f->ep->fid);
	f->ep = NULL;
}

void fab_abandon(struct fab *f)
{
	memset(f, 0, sizeof(*f));
	f->cq_wait_fd = -1;
}

/* ---------------- memory registration ---------------- */

void *fab_alloc_pages(size_t len)
{
	size_t page = 4096;

	return aligned_alloc(page, (len + page - 1) / page * page);
}

static atomic_uint_fast64_t fab_next_key = 1;

int fab_mr_reg(struct fab *f, void *buf, size_t len, uint64_t access, struct fab_mr *m)
{
	bool remote = access & (FI_REMOTE_READ | FI_REMOTE_WRITE);
	uint64_t requested_key = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	if (!remote && !fab_needs_local_mr(f))
		return 0;
	if (!(f->mr_mode & FI_MR_PROV_KEY))
		requested_key = atomic_fetch_add(&fab_next_key, 1);
	ret = fi_mr_reg(f->domain, buf, len, access, 0, requested_key,
			0, &m->mr, NULL);
	if (ret) {
		m->mr = NULL;
		return fab_errno(ret);
	}
	if (f->mr_mode & FI_MR_ENDPOINT) {
		ret = fi_mr_bind(m->mr, &f->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(m->mr);
		if (ret) {
			fab_mr_close(m);
			return fab_errno(ret);
		}
	}
	m->desc = fi_mr_desc(m->mr);
	m->key = (f->mr_mode & FI_MR_PROV_KEY) ? fi_mr_key(m->mr) : requested_key;
	if (m->key == FI_KEY_NOTAVAIL) {
		fab_mr_close(m);
		return -EOPNOTSUPP;
	}
	m->remote_addr = (f->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)buf : 0;
	return 0;
}

void fab_mr_close(struct fab_mr *m)
{
	if (m->mr)
		fi_close(&m->mr->fid);
	memset(m, 0, sizeof(*m));
}

/* ---------------- waiting ---------------- */

void fab_kick(int eventfd)
{
	uint64_t one = 1;
	int saved = errno;

	if (write(eventfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the sleeper wakes anyway. */
	}
	errno = saved;
}

void fab_kick_drain(int eventfd)
{
	uint64_t count;

	if (read(eventfd, &count, sizeof(count)) < 0) {
		/* EAGAIN: another reader drained it. */
	}
}

int fab_wait(struct fab *f, int extra_fd, int64_t timeout_us, uint64_t waited_us)
{
	struct pollfd pfd[2];
	struct timespec ts;
	nfds_t n = 0;
	int ret;

	if (timeout_us <= 0)
		return 0;
	if (f->cq_wait_fd >= 0) {
		struct fid *fids[1] = { &f->cq->fid };

		/* fi_trywait: only sleep on the fd when the provider says
		 * nothing is pending; it may still wake with no completion. */
		ret = fi_trywait(f->fabric, fids, 1);
		if (ret == -FI_EAGAIN)
			return 0;
		if (ret == FI_SUCCESS) {
			pfd[n].fd = f->cq_wait_fd;
			pfd[n++].events = POLLIN;
		} else if (timeout_us > poll_slice_us(waited_us)) {
			timeout_us = poll_slice_us(waited_us);
		}
	} else if (timeout_us > poll_slice_us(waited_us)) {
		timeout_us = poll_slice_us(waited_us);
	}
	if (extra_fd >= 0) {
		pfd[n].fd = extra_fd;
		pfd[n++].events = POLLIN;
	}
	ts.tv_sec = timeout_us / 1000000;
	ts.tv_nsec = (timeout_us % 1000000) * 1000;
	ret = ppoll(n ? pfd : NULL, n, &ts, NULL);
	if (ret <= 0)
		return 0; /* timeout or EINTR: the caller loops */
	return extra_fd >= 0 && (pfd[n - 1].revents & POLLIN) ? 1 : 0;
}
