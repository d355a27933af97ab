/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The delegation speedup model of "Modeling Speedup in Multi-OS
 * Environments" (Tauro, Liu, Hale), the forwarding policies it studies, and
 * the readers of its inputs (a Ferry profile, `strace -c` output, f_c from a
 * ferry-bench CSV).  No I/O beyond the FILE * handed in: ferry-model and the
 * unit tests share it.
 *
 *   naive:   S = 1 / (p + (1 - p) / gamma)
 *   refined: S = (C + sum g(s)) /
 *                (C / gamma + sum b(s) (g(s) + 2 f_c n(s)) + sum (1 - b(s)) g(s))
 *
 * C is the compute time, g(s) the total time of syscall s and n(s) its count,
 * b(s) whether s is forwarded, gamma the speedup of the compute part in the
 * lightweight environment, f_c the one-way forwarding cost.  Here b(s) may be
 * a fraction (the share of the calls of s that are forwarded: what Ferry does
 * when some writes go to /pfs and others to a local file); with b in {0, 1}
 * it is the paper's model exactly.
 */
#ifndef FERRY_PERF_MODEL_H
#define FERRY_PERF_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MODEL_NAME_MAX 40

struct model_syscall {
	char name[MODEL_NAME_MAX];
	uint64_t calls;     /* n(s) */
	double time_s;      /* g(s), all calls */
	uint64_t fwd_calls; /* of which forwarded (a Ferry profile; 0 for strace) */
	double fwd_time_s;
	double b; /* the policy's b(s), in [0, 1] */
};

struct model_profile {
	struct model_syscall *sc;
	size_t n, cap;
	double wall_s;     /* the program's wall time; < 0 when unknown (strace -c) */
	double syscall_s;  /* sum of g(s) */
	uint64_t calls;    /* sum of n(s) */
	int blocks;        /* profile blocks read (an exec chain writes several) */
	char program[256]; /* from a Ferry profile, else "" */
};

/* ---- the model ---- */
double model_naive(double p, double gamma);
/* The denominator of the refined model: the predicted run time in the
 * lightweight environment, in seconds (fc_s: one-way cost in seconds). */
double model_refined_time(const struct model_profile *pr, double compute_s, double gamma,
			  double fc_s);
/* The refined speedup (C + sum g) / model_refined_time. */
double model_refined(const struct model_profile *pr, double compute_s, double gamma, double fc_s);
/* C = wall - sum g, never below 0; -1 when the wall time is unknown. */
double model_compute_time(const struct model_profile *pr);

/* ---- policies: each sets b(s) of every syscall ---- */
void model_policy_all(struct model_profile *pr);
void model_policy_none(struct model_profile *pr);
/* The ceil(fraction * number of syscalls) least (most) frequent syscalls by
 * n(s); ties broken by name, so the choice is deterministic.  Returns how
 * many were chosen. */
size_t model_policy_least(struct model_profile *pr, double fraction);
size_t model_policy_most(struct model_profile *pr, double fraction);
/* A random subset of the same size, drawn with *state (xorshift64*; seed it
 * non-zero). */
size_t model_policy_random(struct model_profile *pr, double fraction, uint64_t *state);
/* The syscalls named in a comma-separated list; -EINVAL (err says which) for
 * a name the profile does not hold, unless ignore_missing. */
int model_policy_list(struct model_profile *pr, const char *list, int ignore_missing, char *err,
		      size_t errlen);
/* What Ferry did: b(s) = forwarded calls / calls, from the profile itself
 * (from = NULL) or from another profile of the same program (a run with
 * forwarding; syscalls missing there are not forwarded). */
void model_policy_ferry(struct model_profile *pr, const struct model_profile *from);
/* The forwarded syscalls as "a,b(0.50),c" (fractions shown when < 1). */
void model_policy_describe(const struct model_profile *pr, char *out, size_t len);
/* Number of syscalls (model_syscall entries) with b > 0, and forwarded calls. */
size_t model_forwarded_syscalls(const struct model_profile *pr, double *fwd_calls);

/* ---- inputs: 0 or -EINVAL with a message naming the line at fault ---- */
void model_profile_free(struct model_profile *pr);
int model_read_ferry_profile(FILE *f, struct model_profile *pr, char *err, size_t errlen);
int model_read_strace(FILE *f, struct model_profile *pr, char *err, size_t errlen);
/* Either of the two, by the first meaningful line. */
int model_read_any(FILE *f, struct model_profile *pr, char *err, size_t errlen);
/* f_c (µs, one way) from a ferry-bench CSV: half the forwarded null call's
 * median.  Either perf/run_bench.sh's results.csv (a header naming op and
 * ferry_median_us; rows fwd_null_call) or ferry-forward-bench --csv rows
 * (op,size,clients,ferry_median_us,...; rows null_call).  provider (may be
 * NULL) picks rows of a results.csv; one client is preferred. */
int model_read_fc(FILE *f, const char *provider, double *fc_us, char *err, size_t errlen);

#endif
