/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mpiio_check: exercise MPI-IO the way parallel applications use it, then
 * verify every byte.  Under Ferry, whichever IO component OpenMPI picks
 * (OMPIO or ROMIO) does its POSIX calls on /pfs and they are forwarded.
 *
 *   mpirun -np 8 [--mca io ompio|romio321] ferry-exec --ionode URI --mount /pfs -- \
 *       mpiio_check /pfs/dir [KiB-per-rank]
 *
 * Files written (L = KiB-per-rank * 1024, P = number of ranks):
 *   DIR/rank-N.dat   each rank alone (MPI_COMM_SELF): L bytes written in chunks
 *                    through the individual file pointer, then MPI_File_sync.
 *   DIR/shared.dat   all ranks (MPI_COMM_WORLD), three regions of P*L bytes:
 *     A  blocks      rank r's L bytes at r*L, collective MPI_File_write_at_all
 *     B  interleaved a file view (resized vector datatype) gives rank r every
 *                    P-th block of B bytes; collective MPI_File_write_all
 *     C  strided     a view of 2-block records (indexed datatype, two blocks
 *                    of unequal size), rank r's records interleaved; written
 *                    with independent MPI_File_write (non-contiguous, so ROMIO
 *                    does read-modify-write under byte-range locks)
 *   DIR/scratch.dat  MPI_File_preallocate, MPI_File_set_size (grow, shrink),
 *                    MPI_File_get_size, then MPI_File_delete.
 * Read-back: every rank reads its neighbour's rank file, its neighbour's part
 * of each region through the same views (collective and independent), and
 * the whole shared file contiguously; every byte is compared with what its
 * writer wrote.  Rank 0 prints one summary line; the exit status is 0 only if
 * all of it matched and every MPI-IO call succeeded.
 */
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum region { R_RANKFILE, R_BLOCKS, R_INTERLEAVED, R_STRIDED };
static const char *const region_name[] = { "rank file", "blocks", "interleaved", "strided" };

/* Deterministic content: byte i of what rank r wrote to a region. */
static unsigned char pattern(int rank, enum region g, size_t i)
{
	uint64_t x = ((uint64_t)(rank + 1) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(g + 1) * 0x94D049BB133111EBull) ^
		     ((uint64_t)(i / 8) * 0xBF58476D1CE4E5B9ull);
	x ^= x >> 31;
	return (unsigned char)(x >> ((i % 8) * 8));
}

static void fill(unsigned char *buf, size_t len, int rank, enum region g)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(rank, g, i);
}

static int rank_, nranks;
static int errors;	   /* failed MPI calls on this rank */
static long long mismatch; /* regions that differed on this rank */

/* MPI-IO calls return an error code (files default to MPI_ERRORS_RETURN). */
#define CHECK(call, what)                                                                                    \
	do {                                                                                                 \
		int rc_ = (call);                                                                            \
		if (rc_ != MPI_SUCCESS) {                                                                    \
			char msg_[MPI_MAX_ERROR_STRING];                                                     \
			int n_ = 0;                                                                          \
			MPI_Error_string(rc_, msg_, &n_);                                                    \
			fprintf(stderr, "mpiio_check: rank %d: %s (%s): %s\n", rank_, #call, what, msg_);    \
			errors++;                                                                            \
		}                                                                                            \
	} while (0)

/* Compare LEN bytes with what RANK wrote to region G, starting at index FROM. */
static void verify(const unsigned char *buf, size_t len, int rank, enum region g, size_t from, const char *where)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != pattern(rank, g, from + i)) {
			fprintf(stderr,
				"mpiio_check: rank %d: %s: byte %zu of rank %d's %s data is 0x%02x, expected 0x%02x\n",
				rank_, where, from + i, rank, region_name[g], buf[i], pattern(rank, g, from + i));
			mismatch++;
			return;
		}
	}
}

/* Every rank calls this after a phase: on any MPI error anywhere, stop (the
 * ranks may now disagree on which collective comes next). */
static void phase_done(const char *phase)
{
	int all = 0;
	MPI_Allreduce(&errors, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (all != 0) {
		if (rank_ == 0)
			printf("mpiio_check: %d ranks: FAILED: %d MPI-IO call(s) failed in phase '%s'\n", nranks, all,
			       phase);
		fflush(stdout);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
}

/* Region B: blocks of BLK bytes, rank r owns block k*P + r of the region. */
static MPI_Datatype interleaved_type(size_t len, int blk)
{
	MPI_Datatype vec, t;
	MPI_Type_vector((int)(len / (size_t)blk), blk, blk * nranks, MPI_BYTE, &vec);
	MPI_Type_create_resized(vec, 0, (MPI_Aint)len * nranks, &t);
	MPI_Type_free(&vec);
	MPI_Type_commit(&t);
	return t;
}

/* Region C: records of REC bytes, rank r owns record k*P + r.  A rank fills
 * its records in two independent passes: part 0 writes bytes [0, REC/4) and
 * [REC/2, REC) of each record (a hole in every record: non-contiguous),
 * part 1 fills the hole [REC/4, REC/2). */
static MPI_Datatype strided_type(int rec, int part)
{
	/* Extent: one record for each rank, so the view tiles the region. */
	MPI_Datatype idx, t;
	if (part == 0) {
		int lens[2] = { rec / 4, rec - rec / 2 };
		int disps[2] = { 0, rec / 2 };
		MPI_Type_indexed(2, lens, disps, MPI_BYTE, &idx);
	} else {
		int lens[1] = { rec / 2 - rec / 4 };
		int disps[1] = { rec / 4 };
		MPI_Type_indexed(1, lens, disps, MPI_BYTE, &idx);
	}
	MPI_Type_create_resized(idx, 0, (MPI_Aint)rec * nranks, &t);
	MPI_Type_free(&idx);
	MPI_Type_commit(&t);
	return t;
}

/* Rank R's region-C data for one part, as the view presents it (packed). */
static void strided_pack(unsigned char *out, size_t len, int rec, int rank, int part, size_t *n)
{
	size_t k = 0;
	for (size_t base = 0; base < len; base += (size_t)rec) {
		size_t a = part == 0 ? 0 : (size_t)rec / 4, b = part == 0 ? (size_t)rec / 4 : (size_t)rec / 2;
		for (size_t i = a; i < b; i++)
			out[k++] = pattern(rank, R_STRIDED, base + i);
		if (part == 0)
			for (size_t i = (size_t)rec / 2; i < (size_t)rec; i++)
				out[k++] = pattern(rank, R_STRIDED, base + i);
	}
	*n = k;
}

static void usage(void)
{
	printf("usage: mpiio_check DIR [KiB-per-rank]\n"
	       "Each rank writes DIR/rank-N.dat; all ranks write DIR/shared.dat with\n"
	       "collective and independent MPI-IO through derived-datatype views; then\n"
	       "every rank reads other ranks' data back and compares every byte.\n"
	       "KiB-per-rank (default 256) must be a multiple of 4; each rank holds one\n"
	       "region (KiB-per-rank * ranks) in memory.  Exit 0 when all matches.\n");
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		if (rank_ == 0)
			usage();
		MPI_Finalize();
		return argc < 2 ? 2 : 0;
	}
	const char *dir = argv[1];
	unsigned long kib = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
	if (kib == 0 || kib % 4 != 0 || kib > (1ul << 20)) {
		if (rank_ == 0)
			fprintf(stderr, "mpiio_check: KiB-per-rank must be a positive multiple of 4, at most 1048576\n");
		MPI_Finalize();
		return 2;
	}
	if ((kib << 10) * (unsigned long)nranks > INT_MAX) {
		if (rank_ == 0)
			fprintf(stderr, "mpiio_check: KiB-per-rank * ranks must stay below 2 GiB\n");
		MPI_Finalize();
		return 2;
	}
	const size_t len = kib << 10;	    /* L: bytes per rank per region */
	const int blk = 1024;		    /* region B block */
	const int rec = 4096;		    /* region C record */
	const MPI_Offset region = (MPI_Offset)len * nranks;
	unsigned char *buf = malloc(len), *back = malloc(len), *whole = malloc((size_t)region);
	char path[4096], shared[4096], scratch[4096];
	if (!buf || !back || !whole) {
		fprintf(stderr, "mpiio_check: rank %d: out of memory\n", rank_);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	snprintf(shared, sizeof(shared), "%s/shared.dat", dir);
	snprintf(scratch, sizeof(scratch), "%s/scratch.dat", dir);
	if (rank_ == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mpiio_check: mkdir %s: %s\n", dir, strerror(errno));
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	/* Small collective buffers so that collective I/O takes several rounds
	 * through the aggregators; each component ignores the other's hints. */
	MPI_Info info;
	MPI_Info_create(&info);
	MPI_Info_set(info, "cb_buffer_size", "65536");
	MPI_Info_set(info, "romio_cb_write", "enable");
	MPI_Info_set(info, "romio_cb_read", "enable");
	MPI_Info_set(info, "romio_ds_write", "enable");
	MPI_Info_set(info, "ind_wr_buffer_size", "16384");
	double t0 = MPI_Wtime();
	MPI_File fh;
	MPI_Status st;
	MPI_Offset size = 0, pos = 0;

	/* ---- rank files: individual file pointer, chunked writes ---- */
	snprintf(path, sizeof(path), "%s/rank-%d.dat", dir, rank_);
	fill(buf, len, rank_, R_RANKFILE);
	CHECK(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, info, &fh), path);
	if (errors == 0) {
		CHECK(MPI_File_set_size(fh, 0), path); /* truncate a leftover from an earlier run */
		size_t chunk = len / 4;
		for (size_t off = 0; off < len; off += chunk)
			CHECK(MPI_File_write(fh, buf + off, (int)chunk, MPI_BYTE, &st), path);
		CHECK(MPI_File_get_position(fh, &pos), path);
		if (pos != (MPI_Offset)len) {
			fprintf(stderr, "mpiio_check: rank %d: %s: position %lld after writing %zu bytes\n", rank_,
				path, (long long)pos, len);
			mismatch++;
		}
		CHECK(MPI_File_sync(fh), path);
		CHECK(MPI_File_close(&fh), path);
	}
	phase_done("rank files: write");

	/* ---- shared file ---- */
	CHECK(MPI_File_open(MPI_COMM_WORLD, shared, MPI_MODE_CREATE | MPI_MODE_RDWR, info, &fh), shared);
	phase_done("shared file: open");
	CHECK(MPI_File_set_size(fh, 0), shared);
	/* A: one contiguous block per rank, collective. */
	fill(buf, len, rank_, R_BLOCKS);
	CHECK(MPI_File_write_at_all(fh, (MPI_Offset)rank_ * (MPI_Offset)len, buf, (int)len, MPI_BYTE, &st), shared);
	phase_done("region A: collective write_at_all");
	/* B: interleaved blocks through a view, collective. */
	MPI_Datatype tb = interleaved_type(len, blk);
	fill(buf, len, rank_, R_INTERLEAVED);
	CHECK(MPI_File_set_view(fh, region + (MPI_Offset)rank_ * blk, MPI_BYTE, tb, "native", info), shared);
	CHECK(MPI_File_write_all(fh, buf, (int)len, MPI_BYTE, &st), shared);
	phase_done("region B: collective write_all through a vector view");
	/* C: two independent passes through non-contiguous views. */
	MPI_Datatype tc[2] = { strided_type(rec, 0), strided_type(rec, 1) };
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		strided_pack(buf, len, rec, rank_, part, &n);
		CHECK(MPI_File_set_view(fh, 2 * region + (MPI_Offset)rank_ * rec, MPI_BYTE, tc[part], "native", info),
		      shared);
		CHECK(MPI_File_write(fh, buf, (int)n, MPI_BYTE, &st), shared);
	}
	CHECK(MPI_File_sync(fh), shared);
	phase_done("region C: independent write through indexed views");
	double t1 = MPI_Wtime();

	/* ---- read back: the neighbour's data, through the same views ---- */
	int peer = (rank_ + 1) % nranks;
	CHECK(MPI_File_get_size(fh, &size), shared);
	if (size != 3 * region) {
		fprintf(stderr, "mpiio_check: rank %d: %s is %lld bytes, expected %lld\n", rank_, shared,
			(long long)size, (long long)(3 * region));
		mismatch++;
	}
	CHECK(MPI_File_set_view(fh, 0, MPI_BYTE, MPI_BYTE, "native", info), shared);
	memset(back, 0, len);
	CHECK(MPI_File_read_at_all(fh, (MPI_Offset)peer * (MPI_Offset)len, back, (int)len, MPI_BYTE, &st), shared);
	verify(back, len, peer, R_BLOCKS, 0, "collective read_at_all");
	memset(back, 0, len);
	CHECK(MPI_File_set_view(fh, region + (MPI_Offset)peer * blk, MPI_BYTE, tb, "native", info), shared);
	CHECK(MPI_File_read_all(fh, back, (int)len, MPI_BYTE, &st), shared);
	verify(back, len, peer, R_INTERLEAVED, 0, "collective read_all through a vector view");
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		strided_pack(buf, len, rec, peer, part, &n);
		memset(back, 0, n);
		CHECK(MPI_File_set_view(fh, 2 * region + (MPI_Offset)peer * rec, MPI_BYTE, tc[part], "native", info),
		      shared);
		CHECK(MPI_File_read(fh, back, (int)n, MPI_BYTE, &st), shared);
		if (memcmp(back, buf, n) != 0) {
			fprintf(stderr, "mpiio_check: rank %d: independent read through indexed view %d: "
					"rank %d's strided data differs\n",
				rank_, part, peer);
			mismatch++;
		}
	}
	phase_done("shared file: read back through views");
	/* The whole shared file, one region at a time, independent contiguous
	 * reads: every writer's bytes where the layout says they are. */
	CHECK(MPI_File_set_view(fh, 0, MPI_BYTE, MPI_BYTE, "native", info), shared);
	for (int g = 0; g < 3 && errors == 0; g++) {
		memset(whole, 0, (size_t)region);
		CHECK(MPI_File_read_at(fh, g * region, whole, (int)region, MPI_BYTE, &st), shared);
		int count = 0;
		MPI_Get_count(&st, MPI_BYTE, &count);
		if (count != (int)region) {
			fprintf(stderr, "mpiio_check: rank %d: %s: short read of region %d: %d bytes\n", rank_, shared,
				g, count);
			mismatch++;
			continue;
		}
		for (int r = 0; r < nranks; r++) {
			if (g == 0) {
				verify(whole + (size_t)r * len, len, r, R_BLOCKS, 0, "contiguous read of region A");
			} else if (g == 1) {
				for (size_t k = 0; k < len / (size_t)blk; k++)
					verify(whole + (k * (size_t)nranks + (size_t)r) * (size_t)blk, (size_t)blk, r,
					       R_INTERLEAVED, k * (size_t)blk, "contiguous read of region B");
			} else {
				for (size_t k = 0; k < len / (size_t)rec; k++)
					verify(whole + (k * (size_t)nranks + (size_t)r) * (size_t)rec, (size_t)rec, r,
					       R_STRIDED, k * (size_t)rec, "contiguous read of region C");
			}
		}
	}
	CHECK(MPI_File_close(&fh), shared);
	phase_done("shared file: contiguous read");

	/* ---- the neighbour's rank file ---- */
	snprintf(path, sizeof(path), "%s/rank-%d.dat", dir, peer);
	CHECK(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, info, &fh), path);
	if (errors == 0) {
		CHECK(MPI_File_get_size(fh, &size), path);
		if (size != (MPI_Offset)len) {
			fprintf(stderr, "mpiio_check: rank %d: %s is %lld bytes, expected %zu\n", rank_, path,
				(long long)size, len);
			mismatch++;
		}
		memset(back, 0, len);
		CHECK(MPI_File_read_at(fh, 0, back, (int)len, MPI_BYTE, &st), path);
		verify(back, len, peer, R_RANKFILE, 0, "read of the neighbour's rank file");
		CHECK(MPI_File_close(&fh), path);
	}
	phase_done("rank files: read back");

	/* ---- size management on a scratch file, then delete it ---- */
	CHECK(MPI_File_open(MPI_COMM_WORLD, scratch, MPI_MODE_CREATE | MPI_MODE_RDWR, info, &fh), scratch);
	phase_done("scratch file: open");
	CHECK(MPI_File_preallocate(fh, region), scratch);
	CHECK(MPI_File_get_size(fh, &size), scratch);
	if (size < region) {
		fprintf(stderr, "mpiio_check: rank %d: %s: %lld bytes after preallocate(%lld)\n", rank_, scratch,
			(long long)size, (long long)region);
		mismatch++;
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK(MPI_File_set_size(fh, 2 * region + 1), scratch);
	CHECK(MPI_File_get_size(fh, &size), scratch);
	if (size != 2 * region + 1) {
		fprintf(stderr, "mpiio_check: rank %d: %s: %lld bytes after set_size(%lld)\n", rank_, scratch,
			(long long)size, (long long)(2 * region + 1));
		mismatch++;
	}
	/* set_size is collective but need not synchronise: let every rank see
	 * this size before one of them changes it again. */
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK(MPI_File_set_size(fh, 7), scratch);
	CHECK(MPI_File_get_size(fh, &size), scratch);
	if (size != 7) {
		fprintf(stderr, "mpiio_check: rank %d: %s: %lld bytes after set_size(7)\n", rank_, scratch,
			(long long)size);
		mismatch++;
	}
	CHECK(MPI_File_close(&fh), scratch);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank_ == 0)
		CHECK(MPI_File_delete(scratch, MPI_INFO_NULL), scratch);
	phase_done("scratch file: preallocate, set_size, delete");
	double t2 = MPI_Wtime();

	long long all_mismatch = 0;
	MPI_Allreduce(&mismatch, &all_mismatch, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
	if (rank_ == 0) {
		double mib = (double)(4 * region) / (1 << 20);
		printf("mpiio_check: %d ranks wrote %.2f MiB to %s in %.3f s, read back and compared in %.3f s: %s",
		       nranks, mib, dir, t1 - t0, t2 - t1, all_mismatch == 0 ? "all data verified\n" : "");
		if (all_mismatch != 0)
			printf("VERIFICATION FAILED (%lld mismatches)\n", all_mismatch);
	}
	MPI_Type_free(&tb);
	MPI_Type_free(&tc[0]);
	MPI_Type_free(&tc[1]);
	MPI_Info_free(&info);
	free(buf);
	free(back);
	free(whole);
	MPI_Finalize();
	return all_mismatch == 0 ? 0 : 1;
}
