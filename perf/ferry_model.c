/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-model: predicted speedup of a program under delegation, per
 * forwarding policy, from a Ferry profile (FERRY_PROFILE) or `strace -c`
 * output, with the model of "Modeling Speedup in Multi-OS Environments"
 * (Tauro, Liu, Hale).  See docs/ferry-model.1.md.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"

extern char **environ;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ferry-model [options] PROFILE\n"
		"\n"
		"Predict the speedup of a program whose system calls are delegated\n"
		"(forwarded) to another node, for several forwarding policies, with the\n"
		"model of Tauro, Liu and Hale, \"Modeling Speedup in Multi-OS Environments\":\n"
		"  naive    S = 1 / (p + (1 - p) / gamma)\n"
		"  refined  S = (C + sum g(s)) /\n"
		"               (C/gamma + sum b(s)(g(s) + 2 f_c n(s)) + sum (1 - b(s)) g(s))\n"
		"PROFILE is a Ferry profile (FERRY_PROFILE=FILE) or the output of\n"
		"`strace -c` (then --wall or --compute is needed).\n"
		"\n"
		"Options:\n"
		"  --gamma G          speedup of the compute part where the program runs\n"
		"                     (default 1: the same node)\n"
		"  --fc US            one-way forwarding cost f_c in microseconds (default 0)\n"
		"  --fc-from CSV      f_c = half the forwarded null call's median from a\n"
		"                     ferry-bench CSV (perf/run_bench.sh's results.csv or\n"
		"                     ferry-forward-bench --csv)\n"
		"  --fc-provider P    the provider's rows of a results.csv (shm, tcp)\n"
		"  --policy LIST      policies to predict, comma-separated, from: all, none,\n"
		"                     least, most, random, list, ferry (default: every one that\n"
		"                     applies)\n"
		"  --fraction F       share of the syscalls least/most/random forward (0.2)\n"
		"  --draws N          random draws averaged (default 100)\n"
		"  --seed S           seed of the random draws (default 1)\n"
		"  --forward LIST     the syscalls the 'list' policy forwards (e.g. write,fsync)\n"
		"  --policy-from FILE the 'ferry' policy forwards what FILE (a profile of a run\n"
		"                     with forwarding) shows forwarded, call for call, and\n"
		"                     keeps PROFILE's times (default: PROFILE's own split)\n"
		"  --wall S           the program's run time in seconds (C = wall - sum g)\n"
		"  --compute S        the compute time C in seconds (overrides --wall)\n"
		"  --trap-us T        extension: a per-call interception cost added to every\n"
		"                     call in the lightweight environment (default 0: the\n"
		"                     paper's model)\n"
		"  --csv FILE         write the predictions as CSV\n"
		"  --surface DIR      write the surfaces of the paper's figures to DIR: the\n"
		"                     naive model over p and gamma, and each policy over\n"
		"                     gamma and f_c (CSV, a gnuplot script and, when gnuplot\n"
		"                     is installed, PNG)\n"
		"  --gamma-max G      surfaces: gamma from 1 to G, log scale (default 100)\n"
		"  --fc-max US        surfaces: f_c from 0 to US (default 4 f_c, or 50)\n"
		"  --grid N           surfaces: N x N points (default 25)\n"
		"  -q, --quiet        print only the table\n"
		"  -h, --help         this text\n"
		"\n"
		"Output: one line per policy: the syscalls forwarded, the calls forwarded,\n"
		"the predicted time in the lightweight environment (the refined model's\n"
		"denominator, seconds) and the predicted speedup.\n");
}

enum policy {
	POL_ALL,
	POL_NONE,
	POL_LEAST,
	POL_MOST,
	POL_RANDOM,
	POL_LIST,
	POL_FERRY,
	POL_COUNT,
};

static const char *const policy_names[POL_COUNT] = { "all",    "none", "least", "most",
						   "random", "list", "ferry" };

struct opts {
	double gamma, fc_us, fraction, wall, compute, trap_us, gamma_max, fc_max;
	int draws, grid, quiet;
	uint64_t seed;
	const char *fc_from, *fc_provider, *forward, *policy_from, *csv, *surface, *input;
	bool want[POL_COUNT], policy_given;
};

__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ferry-model: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static bool num_arg(const char *s, double *v, double min)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*v) && *v >= min;
}

static int read_profile(const char *path, struct model_profile *pr)
{
	char err[256];
	FILE *f = fopen(path, "r");
	int rc;

	if (!f)
		return die("%s: %s", path, strerror(errno));
	rc = model_read_any(f, pr, err, sizeof(err));
	fclose(f);
	if (rc)
		return die("%s: %s", path, err);
	return 0;
}

/* The extension: every call pays the interception cost t (seconds). */
static double trap_time(const struct model_profile *pr, double trap_s)
{
	return trap_s * (double)pr->calls;
}

struct result {
	double time_s, speedup, smin, smax, fwd_calls;
	size_t nsys;
	char desc[512];
};

/* Apply policy p and evaluate the model at (gamma, fc); random: the mean
 * over the draws (smin/smax their range).  Returns false when the policy
 * does not apply. */
static bool evaluate(struct model_profile *pr, const struct model_profile *from, enum policy p,
		     const struct opts *o, double compute, double gamma, double fc_s,
		     struct result *r)
{
	double base = compute + pr->syscall_s, trap = trap_time(pr, o->trap_us * 1e-6);
	char err[256];

	memset(r, 0, sizeof(*r));
	switch (p) {
	case POL_ALL:
		model_policy_all(pr);
		break;
	case POL_NONE:
		model_policy_none(pr);
		break;
	case POL_LEAST:
		model_policy_least(pr, o->fraction);
		break;
	case POL_MOST:
		model_policy_most(pr, o->fraction);
		break;
	case POL_LIST:
		if (!o->forward || model_policy_list(pr, o->forward, 1, err, sizeof(err)))
			return false;
		break;
	case POL_FERRY:
		model_policy_ferry(pr, from);
		break;
	case POL_RANDOM: {
		uint64_t state = o->seed ? o->seed : 1;
		double sum_t = 0, sum_s = 0, sum_c = 0;

		r->smin = INFINITY;
		r->smax = 0;
		for (int d = 0; d < o->draws; d++) {
			double t, s, c;

			model_policy_random(pr, o->fraction, &state);
			t = model_refined_time(pr, compute, gamma, fc_s) + trap;
			s = t > 0 ? base / t : 0;
			r->nsys = model_forwarded_syscalls(pr, &c);
			sum_t += t;
			sum_s += s;
			sum_c += c;
			r->smin = s < r->smin ? s : r->smin;
			r->smax = s > r->smax ? s : r->smax;
		}
		r->time_s = sum_t / o->draws;
		r->speedup = sum_s / o->draws;
		r->fwd_calls = sum_c / o->draws;
		snprintf(r->desc, sizeof(r->desc), "%zu random syscalls, mean of %d draws", r->nsys,
			 o->draws);
		return true;
	}
	default:
		return false;
	}
	r->time_s = model_refined_time(pr, compute, gamma, fc_s) + trap;
	r->speedup = r->time_s > 0 ? base / r->time_s : 0;
	r->smin = r->smax = r->speedup;
	r->nsys = model_forwarded_syscalls(pr, &r->fwd_calls);
	model_policy_describe(pr, r->desc, sizeof(r->desc));
	return true;
}

/* ---- surfaces ---- */

static int run_gnuplot(const char *dir, const char *script)
{
	char *argv[] = { "gnuplot", (char *)script, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc, status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static FILE *open_in(const char *dir, const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "ferry-model: %s: %s\n", path, strerror(errno));
	return f;
}

static double grid_gamma(const struct opts *o, int i)
{
	return o->grid > 1 ? pow(o->gamma_max, (double)i / (o->grid - 1)) : 1;
}

static int write_surfaces(struct model_profile *pr, const struct model_profile *from,
			  const struct opts *o, double compute, double fc_max, const bool *applies)
{
	char path[4096];
	FILE *f;
	double p = pr->syscall_s / (compute + pr->syscall_s);

	if (mkdir(o->surface, 0755) < 0 && errno != EEXIST)
		return die("%s: %s", o->surface, strerror(errno));
	/* the naive model over p and gamma */
	f = open_in(o->surface, "surface_naive.csv", path, sizeof(path));
	if (!f)
		return 1;
	fprintf(f, "p,gamma,speedup\n");
	for (int i = 0; i < o->grid; i++) {
		for (int j = 0; j < o->grid; j++) {
			double pp = o->grid > 1 ? (double)j / (o->grid - 1) : p, g = grid_gamma(o, i);

			fprintf(f, "%.6f,%.6f,%.6f\n", pp, g, model_naive(pp, g));
		}
		fputc('\n', f); /* gnuplot: one scan line per gamma */
	}
	if (fclose(f) != 0)
		return die("%s: %s", path, strerror(errno));
	/* each policy over gamma and f_c */
	f = open_in(o->surface, "surface_policies.csv", path, sizeof(path));
	if (!f)
		return 1;
	fprintf(f, "policy,gamma,fc_us,speedup,predicted_s\n");
	for (int pol = 0; pol < POL_COUNT; pol++) {
		if (!applies[pol])
			continue;
		for (int i = 0; i < o->grid; i++) {
			for (int j = 0; j < o->grid; j++) {
				double fc = o->grid > 1 ? fc_max * j / (o->grid - 1) : 0;
				struct result r;

				evaluate(pr, from, (enum policy)pol, o, compute, grid_gamma(o, i),
					 fc * 1e-6, &r);
				fprintf(f, "%s,%.6f,%.6f,%.6f,%.9f\n", policy_names[pol],
					grid_gamma(o, i), fc, r.speedup, r.time_s);
			}
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0)
		return die("%s: %s", path, strerror(errno));
	/* the plots: one panel per policy, and the naive surface */
	f = open_in(o->surface, "surfaces.gp", path, sizeof(path));
	if (!f)
		return 1;
	int npanels = 1;

	for (int pol = 0; pol < POL_COUNT; pol++)
		npanels += applies[pol];
	int cols = npanels > 4 ? 3 : 2, rows = (npanels + cols - 1) / cols;

	fprintf(f,
		"# ferry-model --surface: speedup surfaces (run: gnuplot surfaces.gp)\n"
		"set terminal pngcairo size %d,%d font 'sans,9'\n"
		"set output 'surfaces.png'\n"
		"set datafile separator ','\n"
		"set pm3d at s\n"
		"set palette rgbformulae 33,13,10\n"
		"set hidden3d\n"
		"set view 60,35\n"
		"set key off\n"
		"set zlabel 'speedup' rotate\n"
		"set multiplot layout %d,%d title 'Predicted speedup (%s; gamma = compute speedup, "
		"f_c = one-way forwarding cost)' noenhanced\n",
		520 * cols, 420 * rows, rows, cols, pr->program[0] ? pr->program : o->input);
	fprintf(f, "set title 'naive model: S = 1/(p + (1-p)/gamma)' noenhanced\n"
		   "set xlabel 'p (syscall share)'\nset ylabel 'gamma'\nset logscale y\n"
		   "splot 'surface_naive.csv' every ::1 using 1:2:3 with pm3d\n"
		   "unset logscale y\n");
	for (int pol = 0; pol < POL_COUNT; pol++) {
		if (!applies[pol])
			continue;
		fprintf(f,
			"set title 'policy %s (refined model)' noenhanced\n"
			"set xlabel 'f_c (us)' noenhanced\nset ylabel 'gamma'\nset logscale y\n"
			"splot '< grep -e \"^%s,\" -e \"^$\" surface_policies.csv' using 3:2:4 with pm3d\n"
			"unset logscale y\n",
			policy_names[pol], policy_names[pol]);
	}
	fprintf(f, "unset multiplot\n");
	if (fclose(f) != 0)
		return die("%s: %s", path, strerror(errno));
	if (run_gnuplot(o->surface, "surfaces.gp") < 0)
		fprintf(stderr, "ferry-model: gnuplot not run or failed: no %s/surfaces.png "
				"(the CSV and surfaces.gp are there)\n",
			o->surface);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gamma", required_argument, NULL, 'g' },
		{ "fc", required_argument, NULL, 'f' },
		{ "fc-from", required_argument, NULL, 'F' },
		{ "fc-provider", required_argument, NULL, 'P' },
		{ "policy", required_argument, NULL, 'p' },
		{ "fraction", required_argument, NULL, 'r' },
		{ "draws", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "forward", required_argument, NULL, 'l' },
		{ "policy-from", required_argument, NULL, 'R' },
		{ "wall", required_argument, NULL, 'w' },
		{ "compute", required_argument, NULL, 'c' },
		{ "trap-us", required_argument, NULL, 't' },
		{ "csv", required_argument, NULL, 'C' },
		{ "surface", required_argument, NULL, 'S' },
		{ "gamma-max", required_argument, NULL, 'G' },
		{ "fc-max", required_argument, NULL, 'M' },
		{ "grid", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .gamma = 1, .fraction = 0.2, .wall = -1, .compute = -1, .draws = 100,
			  .grid = 25, .seed = 1, .gamma_max = 100, .fc_max = -1 };
	struct model_profile pr = { 0 }, from = { 0 };
	bool have_from = false, applies[POL_COUNT] = { 0 };
	double compute, v, fc_s;
	char err[256];
	int c, rc = 1;
	FILE *csv = NULL;

	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (!num_arg(optarg, &o.gamma, 1e-9))
				return die("bad --gamma \"%s\"", optarg);
			break;
		case 'f':
			if (!num_arg(optarg, &o.fc_us, 0))
				return die("bad --fc \"%s\"", optarg);
			break;
		case 'F':
			o.fc_from = optarg;
			break;
		case 'P':
			o.fc_provider = optarg;
			break;
		case 'p': {
			char *list = strdup(optarg), *save = NULL;

			o.policy_given = true;
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int k;

				for (k = 0; k < POL_COUNT && strcmp(t, policy_names[k]); k++)
					;
				if (k == POL_COUNT) {
					die("unknown policy \"%s\" (all, none, least, most, random, "
					    "list, ferry)",
					    t);
					free(list);
					return 2;
				}
				o.want[k] = true;
			}
			free(list);
			break;
		}
		case 'r':
			if (!num_arg(optarg, &o.fraction, 0) || o.fraction > 1)
				return die("bad --fraction \"%s\" (0 to 1)", optarg);
			break;
		case 'd':
			if (!num_arg(optarg, &v, 1) || v > 1e6)
				return die("bad --draws \"%s\"", optarg);
			o.draws = (int)v;
			break;
		case 's':
			if (!num_arg(optarg, &v, 0))
				return die("bad --seed \"%s\"", optarg);
			o.seed = (uint64_t)v;
			break;
		case 'l':
			o.forward = optarg;
			break;
		case 'R':
			o.policy_from = optarg;
			break;
		case 'w':
			if (!num_arg(optarg, &o.wall, 0))
				return die("bad --wall \"%s\"", optarg);
			break;
		case 'c':
			if (!num_arg(optarg, &o.compute, 0))
				return die("bad --compute \"%s\"", optarg);
			break;
		case 't':
			if (!num_arg(optarg, &o.trap_us, 0))
				return die("bad --trap-us \"%s\"", optarg);
			break;
		case 'C':
			o.csv = optarg;
			break;
		case 'S':
			o.surface = optarg;
			break;
		case 'G':
			if (!num_arg(optarg, &o.gamma_max, 1))
				return die("bad --gamma-max \"%s\"", optarg);
			break;
		case 'M':
			if (!num_arg(optarg, &o.fc_max, 0))
				return die("bad --fc-max \"%s\"", optarg);
			break;
		case 'n':
			if (!num_arg(optarg, &v, 2) || v > 1000)
				return die("bad --grid \"%s\" (2 to 1000)", optarg);
			o.grid = (int)v;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	o.input = argv[optind];
	if (o.fc_from) {
		FILE *f = fopen(o.fc_from, "r");

		if (!f)
			return die("%s: %s", o.fc_from, strerror(errno));
		rc = model_read_fc(f, o.fc_provider, &o.fc_us, err, sizeof(err));
		fclose(f);
		if (rc)
			return die("%s: %s", o.fc_from, err);
		rc = 1;
	}
	fc_s = o.fc_us * 1e-6;
	if (read_profile(o.input, &pr))
		return 1;
	if (o.policy_from) {
		if (read_profile(o.policy_from, &from))
			goto out;
		have_from = true;
	}
	if (o.wall >= 0)
		pr.wall_s = o.wall;
	compute = o.compute >= 0 ? o.compute : model_compute_time(&pr);
	if (compute < 0) {
		die("%s: no wall time in the input (strace -c): pass --wall or --compute", o.input);
		goto out;
	}
	if (pr.n == 0) {
		die("%s: no system calls in the input", o.input);
		goto out;
	}
	/* which policies apply */
	{
		bool profile_forwards = false;

		for (size_t i = 0; i < pr.n; i++)
			profile_forwards |= pr.sc[i].fwd_calls > 0;
		for (int k = 0; k < POL_COUNT; k++)
			applies[k] = true;
		applies[POL_LIST] = o.forward != NULL;
		applies[POL_FERRY] = have_from || profile_forwards;
		if (o.policy_given)
			for (int k = 0; k < POL_COUNT; k++) {
				if (o.want[k] && !applies[k]) {
					die("policy %s needs %s", policy_names[k],
					    k == POL_LIST ? "--forward LIST"
							: "--policy-from FILE or a profile with "
							  "forwarded calls");
					goto out;
				}
				applies[k] = o.want[k];
			}
		if (o.forward && model_policy_list(&pr, o.forward, 0, err, sizeof(err)))
			fprintf(stderr, "ferry-model: warning: --forward: %s (taken as not called)\n",
				err);
	}
	{
		double p = pr.syscall_s / (compute + pr.syscall_s);

		if (!o.quiet) {
			printf("ferry-model: %s%s%s%s\n", o.input, pr.program[0] ? " (" : "",
			       pr.program, pr.program[0] ? ")" : "");
			printf("  C = %.6f s compute, sum g = %.6f s in %llu calls of %zu syscalls: "
			       "p = %.4f\n",
			       compute, pr.syscall_s, (unsigned long long)pr.calls, pr.n, p);
			printf("  gamma = %g, f_c = %.3f us one way%s%s%s, fraction = %g", o.gamma,
			       o.fc_us, o.fc_from ? " (from " : "", o.fc_from ? o.fc_from : "",
			       o.fc_from ? ")" : "", o.fraction);
			if (o.trap_us > 0)
				printf(", interception cost %.3f us per call", o.trap_us);
			printf("\n  naive model: S = %.4f (all syscalls forwarded at no cost)\n", model_naive(p, o.gamma));
			if (have_from || applies[POL_FERRY])
				printf("  ferry policy: b(s) from %s\n",
				       have_from ? o.policy_from : "the profile's own forwarded calls");
			printf("\n");
		}
		printf("%-8s %9s %12s %14s %9s  %s\n", "policy", "syscalls", "fwd calls",
		       "predicted s", "speedup", "forwarded");
		if (o.csv) {
			csv = fopen(o.csv, "w");
			if (!csv) {
				die("%s: %s", o.csv, strerror(errno));
				goto out;
			}
			fprintf(csv, "policy,gamma,fc_us,trap_us,compute_s,syscall_s,baseline_s,"
				     "forwarded_syscalls,forwarded_calls,predicted_s,speedup,"
				     "speedup_min,speedup_max,forwarded\n");
			fprintf(csv, "naive,%g,0,0,%.9f,%.9f,%.9f,%zu,%llu,%.9f,%.6f,,,all\n",
				o.gamma, compute, pr.syscall_s, compute + pr.syscall_s, pr.n,
				(unsigned long long)pr.calls,
				(compute + pr.syscall_s) / model_naive(p, o.gamma),
				model_naive(p, o.gamma));
		}
		for (int k = 0; k < POL_COUNT; k++) {
			struct result r;

			if (!applies[k] || !evaluate(&pr, have_from ? &from : NULL, (enum policy)k, &o,
						     compute, o.gamma, fc_s, &r))
				continue;
			printf("%-8s %9zu %12.0f %14.6f %9.4f  %s", policy_names[k], r.nsys,
			       r.fwd_calls, r.time_s, r.speedup, r.desc);
			if (k == POL_RANDOM)
				printf(" [%.4f, %.4f]", r.smin, r.smax);
			printf("\n");
			if (csv)
				fprintf(csv, "%s,%g,%.6f,%.6f,%.9f,%.9f,%.9f,%zu,%.1f,%.9f,%.6f,%.6f,%.6f,\"%s\"\n",
					policy_names[k], o.gamma, o.fc_us, o.trap_us, compute,
					pr.syscall_s, compute + pr.syscall_s, r.nsys, r.fwd_calls,
					r.time_s, r.speedup, r.smin, r.smax, r.desc);
		}
		if (csv && fclose(csv) != 0) {
			csv = NULL;
			die("%s: %s", o.csv, strerror(errno));
			goto out;
		}
		csv = NULL;
	}
	if (o.surface) {
		double fc_max = o.fc_max >= 0 ? o.fc_max : (o.fc_us > 0 ? 4 * o.fc_us : 50);

		if (write_surfaces(&pr, have_from ? &from : NULL, &o, compute, fc_max, applies))
			goto out;
		if (!o.quiet)
			printf("\nsurfaces: %s/surface_naive.csv, %s/surface_policies.csv, "
			       "%s/surfaces.gp (.png)\n",
			       o.surface, o.surface, o.surface);
	}
	rc = 0;
out:
	if (csv)
		fclose(csv);
	model_profile_free(&pr);
	model_profile_free(&from);
	return rc;
}
