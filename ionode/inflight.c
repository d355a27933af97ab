/* SPDX-License-Identifier: Apache-2.0 */
#include "inflight.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "session.h"

struct iond_inflight {
	pthread_t thread;
	struct iond_session *session; /* NULL between calls; under slots_lock */
	uint64_t seq;                 /* the call's sequence number */
	struct iond_inflight *next;
};

/* One daemon per process: the registry is process-wide. */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iond_inflight *slots;

static int interrupt_signal(void)
{
	return SIGRTMIN;
}

static void on_interrupt(int sig)
{
	/* Nothing to do: being delivered is the point (EINTR). */
}

int iond_inflight_init(void)
{
	struct sigaction sa = {.sa_handler = on_interrupt};

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the interrupted call must return EINTR. */
	if (sigaction(interrupt_signal(), &sa, NULL) != 0)
		return -errno;
	return 0;
}

struct iond_inflight *iond_inflight_register(void)
{
	struct iond_inflight *slot = calloc(1, sizeof(*slot));

	if (!slot)
		return NULL;
	slot->thread = pthread_self();
	pthread_mutex_lock(&slots_lock);
	slot->next = slots;
	slots = slot;
	pthread_mutex_unlock(&slots_lock);
	return slot;
}

void iond_inflight_unregister(struct iond_inflight *slot)
{
	struct iond_inflight **pp;

	if (!slot)
		return;
	pthread_mutex_lock(&slots_lock);
	for (pp = &slots; *pp; pp = &(*pp)->next) {
		if (*pp == slot) {
			*pp = slot->next;
			break;
		}
	}
	pthread_mutex_unlock(&slots_lock);
	free(slot);
}

void iond_inflight_begin(struct iond_inflight *slot, struct iond_session *s, uint64_t seq)
{
	pthread_mutex_lock(&slots_lock);
	slot->session = s;
	slot->seq = seq;
	pthread_mutex_unlock(&slots_lock);
}

/* Called before the worker drops its session reference, so the registry
 * never holds a freed session. */
void iond_inflight_end(struct iond_inflight *slot)
{
	pthread_mutex_lock(&slots_lock);
	slot->session = NULL;
	pthread_mutex_unlock(&slots_lock);
}

size_t iond_inflight_interrupt_orphans(void)
{
	size_t n = 0;

	pthread_mutex_lock(&slots_lock);
	for (struct iond_inflight *slot = slots; slot; slot = slot->next) {
		if (slot->session && iond_session_is_closed(slot->session) &&
		    pthread_kill(slot->thread, interrupt_signal()) == 0)
			n++;
	}
	pthread_mutex_unlock(&slots_lock);
	return n;
}

int iond_inflight_interrupt(struct iond_session *s, uint64_t seq)
{
	int n = 0;

	pthread_mutex_lock(&slots_lock);
	for (struct iond_inflight *slot = slots; slot; slot = slot->next) {
		if (slot->session == s && slot->seq == seq &&
		    pthread_kill(slot->thread, interrupt_signal()) == 0)
			n = 1;
	}
	pthread_mutex_unlock(&slots_lock);
	return n;
}
