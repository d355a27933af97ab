/* SPDX-License-Identifier: Apache-2.0 */
/* The delegation speedup model, its policies and its input readers (model.h). */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model ---- */

double model_naive(double p, double gamma)
{
	return 1.0 / (p + (1.0 - p) / gamma);
}

double model_refined_time(const struct model_profile *pr, double compute_s, double gamma,
			  double fc_s)
{
	double t = compute_s / gamma;

	for (size_t i = 0; i < pr->n; i++) {
		const struct model_syscall *s = &pr->sc[i];

		/* b (g + 2 f_c n) + (1 - b) g */
		t += s->b * (s->time_s + 2.0 * fc_s * (double)s->calls) + (1.0 - s->b) * s->time_s;
	}
	return t;
}

double model_refined(const struct model_profile *pr, double compute_s, double gamma, double fc_s)
{
	double t = model_refined_time(pr, compute_s, gamma, fc_s);

	return t > 0 ? (compute_s + pr->syscall_s) / t : 0;
}

double model_compute_time(const struct model_profile *pr)
{
	double c;

	if (pr->wall_s < 0)
		return -1;
	c = pr->wall_s - pr->syscall_s;
	return c > 0 ? c : 0;
}

/* ---- policies ---- */

void model_policy_all(struct model_profile *pr)
{
	for (size_t i = 0; i < pr->n; i++)
		pr->sc[i].b = 1;
}

void model_policy_none(struct model_profile *pr)
{
	for (size_t i = 0; i < pr->n; i++)
		pr->sc[i].b = 0;
}

static size_t policy_count(size_t n, double fraction)
{
	double k;

	if (n == 0 || fraction <= 0)
		return 0;
	if (fraction >= 1)
		return n;
	/* ceil, with a little slack so that 0.2 * 10 is 2, not 3 */
	k = ceil(fraction * (double)n - 1e-9);
	return k < 1 ? 1 : (size_t)k;
}

static const struct model_profile *sort_pr;

static int by_count_then_name(const void *a, const void *b)
{
	const struct model_syscall *x = &sort_pr->sc[*(const size_t *)a];
	const struct model_syscall *y = &sort_pr->sc[*(const size_t *)b];

	if (x->calls != y->calls)
		return x->calls < y->calls ? -1 : 1;
	return strcmp(x->name, y->name);
}

static size_t policy_by_frequency(struct model_profile *pr, double fraction, bool most)
{
	size_t k = policy_count(pr->n, fraction), *idx;

	model_policy_none(pr);
	if (k == 0)
		return 0;
	idx = malloc(pr->n * sizeof(*idx));
	if (!idx)
		abort();
	for (size_t i = 0; i < pr->n; i++)
		idx[i] = i;
	sort_pr = pr;
	qsort(idx, pr->n, sizeof(*idx), by_count_then_name);
	for (size_t j = 0; j < k; j++)
		pr->sc[idx[most ? pr->n - 1 - j : j]].b = 1;
	free(idx);
	return k;
}

size_t model_policy_least(struct model_profile *pr, double fraction)
{
	return policy_by_frequency(pr, fraction, false);
}

size_t model_policy_most(struct model_profile *pr, double fraction)
{
	return policy_by_frequency(pr, fraction, true);
}

static uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

size_t model_policy_random(struct model_profile *pr, double fraction, uint64_t *state)
{
	size_t k = policy_count(pr->n, fraction), left = pr->n, need = k;

	model_policy_none(pr);
	/* selection sampling: each syscall taken with probability need / left */
	for (size_t i = 0; i < pr->n && need > 0; i++, left--) {
		if (xorshift64s(state) % left < need) {
			pr->sc[i].b = 1;
			need--;
		}
	}
	return k;
}

static struct model_syscall *find_syscall(const struct model_profile *pr, const char *name)
{
	for (size_t i = 0; i < pr->n; i++)
		if (strcmp(pr->sc[i].name, name) == 0)
			return &pr->sc[i];
	return NULL;
}

int model_policy_list(struct model_profile *pr, const char *list, int ignore_missing, char *err,
		      size_t errlen)
{
	char name[MODEL_NAME_MAX];
	const char *p = list;

	model_policy_none(pr);
	while (*p) {
		size_t len = strcspn(p, ",");
		struct model_syscall *s;

		if (len == 0 || len >= sizeof(name)) {
			snprintf(err, errlen, "bad syscall name in list \"%s\"", list);
			return -EINVAL;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		s = find_syscall(pr, name);
		if (s)
			s->b = 1;
		else if (!ignore_missing) {
			snprintf(err, errlen, "%s: not in the profile", name);
			return -EINVAL;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void model_policy_ferry(struct model_profile *pr, const struct model_profile *from)
{
	for (size_t i = 0; i < pr->n; i++) {
		const struct model_syscall *o = from ? find_syscall(from, pr->sc[i].name) : &pr->sc[i];

		pr->sc[i].b = (o && o->calls) ? (double)o->fwd_calls / (double)o->calls : 0;
	}
}

void model_policy_describe(const struct model_profile *pr, char *out, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < pr->n; i++) {
		const struct model_syscall *s = &pr->sc[i];
		int n;

		if (s->b <= 0)
			continue;
		if (s->b < 1)
			n = snprintf(out + used, len - used, "%s%s(%.4g)", used ? "," : "", s->name,
				     s->b);
		else
			n = snprintf(out + used, len - used, "%s%s", used ? "," : "", s->name);
		if (n < 0 || (size_t)n >= len - used) {
			/* cut: end with "..." */
			if (len > 4)
				strcpy(out + len - 4, "...");
			return;
		}
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(out, len, "(none)");
}

size_t model_forwarded_syscalls(const struct model_profile *pr, double *fwd_calls)
{
	size_t k = 0;
	double c = 0;

	for (size_t i = 0; i < pr->n; i++) {
		if (pr->sc[i].b > 0)
			k++;
		c += pr->sc[i].b * (double)pr->sc[i].calls;
	}
	if (fwd_calls)
		*fwd_calls = c;
	return k;
}

/* ---- inputs ---- */

void model_profile_free(struct model_profile *pr)
{
	free(pr->sc);
	memset(pr, 0, sizeof(*pr));
}

static void profile_reset(struct model_profile *pr)
{
	free(pr->sc);
	memset(pr, 0, sizeof(*pr));
	pr->wall_s = -1;
}

/* Add (or merge into) the entry for name. */
static int profile_add(struct model_profile *pr, const char *name, uint64_t calls, double time_s,
		       uint64_t fwd_calls, double fwd_time_s)
{
	struct model_syscall *s = find_syscall(pr, name);

	if (!s) {
		if (pr->n == pr->cap) {
			size_t cap = pr->cap ? 2 * pr->cap : 64;
			struct model_syscall *n = realloc(pr->sc, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			pr->sc = n;
			pr->cap = cap;
		}
		s = &pr->sc[pr->n++];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
	}
	s->calls += calls;
	s->time_s += time_s;
	s->fwd_calls += fwd_calls;
	s->fwd_time_s += fwd_time_s;
	pr->calls += calls;
	pr->syscall_s += time_s;
	return 0;
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int line,
						      const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "line %d: ", line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* A whole unsigned decimal number; false if s is anything else. */
static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_double(const char *s, double *v)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && *end == '\0' && isfinite(*v) && *v >= 0;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) >= MODEL_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '?' && *s != '-')
			return false;
	return true;
}

#define PROFILE_COLS 8
static const char *const profile_cols[PROFILE_COLS] = {
	"syscall", "nr", "calls", "total_ns", "local_calls", "local_ns", "forwarded_calls",
	"forwarded_ns",
};

int model_read_ferry_profile(FILE *f, struct model_profile *pr, char *err, size_t errlen)
{
	char line[1024];
	int lineno = 0, rc;
	bool in_block = false, have_cols = false, have_wall = false;
	double wall = 0;

	profile_reset(pr);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			return fail(err, errlen, lineno, "line too long");
		chomp(line);
		if (line[0] == '\0')
			continue;
		if (line[0] == '#') {
			uint64_t v;

			if (strncmp(line, "# ferry-profile ", 16) == 0) {
				if (strcmp(line + 16, "1") != 0)
					return fail(err, errlen, lineno,
						    "unknown profile version \"%s\"", line + 16);
				in_block = true;
				have_cols = false;
				pr->blocks++;
			} else if (!in_block) {
				return fail(err, errlen, lineno,
					    "not a Ferry profile (expected \"# ferry-profile 1\")");
			} else if (strncmp(line, "# wall_ns ", 10) == 0) {
				if (!parse_u64(line + 10, &v))
					return fail(err, errlen, lineno, "bad wall_ns");
				wall += (double)v / 1e9;
				have_wall = true;
			} else if (strncmp(line, "# program ", 10) == 0 && !pr->program[0]) {
				snprintf(pr->program, sizeof(pr->program), "%.*s", (int)sizeof(pr->program) - 1, line + 10);
			}
			continue;
		}
		if (!in_block)
			return fail(err, errlen, lineno,
				    "not a Ferry profile (expected \"# ferry-profile 1\")");
		if (!have_cols) {
			char want[256] = "";

			for (int i = 0; i < PROFILE_COLS; i++) {
				strcat(want, profile_cols[i]);
				if (i + 1 < PROFILE_COLS)
					strcat(want, ",");
			}
			if (strcmp(line, want) != 0)
				return fail(err, errlen, lineno, "expected the column line \"%s\"",
					    want);
			have_cols = true;
			continue;
		}
		/* name,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,forwarded_ns */
		char *field[PROFILE_COLS], *p = line;
		int nf = 0;
		uint64_t v[PROFILE_COLS];

		while (nf < PROFILE_COLS) {
			field[nf++] = p;
			p = strchr(p, ',');
			if (!p)
				break;
			*p++ = '\0';
		}
		if (nf != PROFILE_COLS || p)
			return fail(err, errlen, lineno, "expected %d comma-separated fields",
				    PROFILE_COLS);
		if (!valid_name(field[0]))
			return fail(err, errlen, lineno, "bad syscall name \"%s\"", field[0]);
		for (int i = 2; i < PROFILE_COLS; i++)
			if (!parse_u64(field[i], &v[i]))
				return fail(err, errlen, lineno, "bad %s \"%s\"", profile_cols[i],
					    field[i]);
		if (v[4] + v[6] != v[2] || v[5] + v[7] != v[3])
			return fail(err, errlen, lineno,
				    "local and forwarded do not add up to the totals");
		rc = profile_add(pr, field[0], v[2], (double)v[3] / 1e9, v[6], (double)v[7] / 1e9);
		if (rc)
			return fail(err, errlen, lineno, "out of memory");
	}
	if (ferror(f))
		return fail(err, errlen, lineno, "read error");
	if (pr->blocks == 0)
		return fail(err, errlen, lineno, "empty: no \"# ferry-profile 1\" block");
	if (!have_wall)
		return fail(err, errlen, lineno, "no \"# wall_ns\" line");
	pr->wall_s = wall;
	return 0;
}

/* strace -c:
 *   % time     seconds  usecs/call     calls    errors syscall
 *   ------ ----------- ----------- --------- --------- ----------------
 *    45.00    0.000450          45        10           write
 *   ------ ----------- ----------- --------- --------- ----------------
 *   100.00    0.001000          50        20         2 total
 * (errors may be blank; lines before the header, e.g. the program's own
 * output, are skipped). */
int model_read_strace(FILE *f, struct model_profile *pr, char *err, size_t errlen)
{
	char line[1024];
	int lineno = 0, state = 0; /* 0 before header, 1 after it, 2 in rows, 3 done */
	bool have_total = false;

	profile_reset(pr);
	while (fgets(line, sizeof(line), f)) {
		char *tok[8], *save = NULL, *t;
		int nt = 0;
		double pct, secs;
		uint64_t calls, errors;

		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			return fail(err, errlen, lineno, "line too long");
		chomp(line);
		if (state == 0) {
			if (strncmp(line, "% time", 6) == 0) {
				if (!strstr(line, "calls") || !strstr(line, "syscall"))
					return fail(err, errlen, lineno,
						    "unexpected strace -c header");
				state = 1;
			}
			continue;
		}
		if (state == 3)
			continue;
		if (strncmp(line, "------", 6) == 0) {
			state = state == 1 ? 2 : 3;
			continue;
		}
		if (state == 1)
			return fail(err, errlen, lineno, "expected a line of dashes after the header");
		for (t = strtok_r(line, " \t", &save); t && nt < 8; t = strtok_r(NULL, " \t", &save))
			tok[nt++] = t;
		if (nt == 0)
			continue;
		if (t || nt > 6)
			return fail(err, errlen, lineno, "too many fields");
		/* pct seconds usecs/call calls [errors] name; the total line may
		 * lack usecs/call */
		if (nt < 4)
			return fail(err, errlen, lineno, "expected %% time, seconds, usecs/call, "
							 "calls, errors, syscall");
		if (!parse_double(tok[0], &pct) || !parse_double(tok[1], &secs))
			return fail(err, errlen, lineno, "bad %% time or seconds");
		if (strcmp(tok[nt - 1], "total") == 0) {
			have_total = true;
			state = 3;
			continue;
		}
		if (nt < 5)
			return fail(err, errlen, lineno, "expected usecs/call and calls");
		{
			double usecs;

			if (!parse_double(tok[2], &usecs) || !parse_u64(tok[3], &calls))
				return fail(err, errlen, lineno, "bad usecs/call or calls");
		}
		if (nt == 6 && !parse_u64(tok[4], &errors))
			return fail(err, errlen, lineno, "bad errors \"%s\"", tok[4]);
		if (!valid_name(tok[nt - 1]))
			return fail(err, errlen, lineno, "bad syscall name \"%s\"", tok[nt - 1]);
		if (profile_add(pr, tok[nt - 1], calls, secs, 0, 0))
			return fail(err, errlen, lineno, "out of memory");
	}
	if (ferror(f))
		return fail(err, errlen, lineno, "read error");
	if (state == 0)
		return fail(err, errlen, lineno, "no strace -c table (\"%% time ...\" header)");
	if (state < 3 && !have_total && pr->n == 0)
		return fail(err, errlen, lineno, "the strace -c table is cut short");
	pr->wall_s = -1;
	return 0;
}

int model_read_any(FILE *f, struct model_profile *pr, char *err, size_t errlen)
{
	char line[1024];
	long start = ftell(f);
	bool ferry = false;

	/* The first non-empty line decides; strace's table may follow program output. */
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '\n')
			continue;
		ferry = strncmp(line, "# ferry-profile", 15) == 0;
		break;
	}
	if (start < 0 || fseek(f, start, SEEK_SET) != 0) {
		snprintf(err, errlen, "input must be a regular file (cannot seek)");
		return -EINVAL;
	}
	return ferry ? model_read_ferry_profile(f, pr, err, errlen)
		     : model_read_strace(f, pr, err, errlen);
}

/* Split a CSV line in place (no quoting: ferry-bench writes none). */
static int csv_split(char *line, char **field, int max)
{
	int n = 0;

	for (;;) {
		if (n == max)
			return n;
		field[n++] = line;
		line = strchr(line, ',');
		if (!line)
			return n;
		*line++ = '\0';
	}
}

int model_read_fc(FILE *f, const char *provider, double *fc_us, char *err, size_t errlen)
{
	char line[2048], *field[64];
	int lineno = 0, c_op = 0, c_med = 3, c_prov = -1, c_clients = 2, best_clients = -1;
	bool header = false;
	double best = -1;

	while (fgets(line, sizeof(line), f)) {
		int nf;

		lineno++;
		chomp(line);
		if (!line[0])
			continue;
		nf = csv_split(line, field, 64);
		if (lineno == 1 && !isdigit((unsigned char)field[nf > 1 ? 1 : 0][0])) {
			/* a header: find the columns by name */
			c_op = c_med = c_prov = c_clients = -1;
			for (int i = 0; i < nf; i++) {
				if (!strcmp(field[i], "op"))
					c_op = i;
				else if (!strcmp(field[i], "ferry_median_us"))
					c_med = i;
				else if (!strcmp(field[i], "provider"))
					c_prov = i;
				else if (!strcmp(field[i], "clients"))
					c_clients = i;
			}
			if (c_op < 0 || c_med < 0)
				return fail(err, errlen, lineno,
					    "no op and ferry_median_us columns in the header");
			header = true;
			continue;
		}
		if (c_op >= nf || c_med >= nf)
			continue;
		if (strcmp(field[c_op], "null_call") != 0 && strcmp(field[c_op], "fwd_null_call") != 0)
			continue;
		if (provider && c_prov >= 0 && c_prov < nf && strcmp(field[c_prov], provider) != 0)
			continue;
		{
			double med;
			int clients = 1;

			if (!parse_double(field[c_med], &med) || med <= 0)
				return fail(err, errlen, lineno, "bad median \"%s\"", field[c_med]);
			if (c_clients >= 0 && c_clients < nf) {
				uint64_t c;

				if (parse_u64(field[c_clients], &c))
					clients = (int)c;
			}
			/* the first row with one client (or the fewest clients) */
			if (best < 0 || (clients < best_clients)) {
				best = med;
				best_clients = clients;
			}
		}
	}
	(void)header;
	if (ferror(f))
		return fail(err, errlen, lineno, "read error");
	if (best < 0) {
		snprintf(err, errlen, "no forwarded null call row%s%s", provider ? " for provider " : "",
			 provider ? provider : "");
		return -EINVAL;
	}
	*fc_us = best / 2.0;
	return 0;
}
