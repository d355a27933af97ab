/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mpi_io_demo: a small MPI job whose file I/O is ordinary POSIX I/O, so that
 * under Ferry it is forwarded to the I/O node without the program knowing.
 *
 *   mpirun -np 4 ferry-exec --ionode URI --mount /pfs -- mpi_io_demo /pfs/demo [MiB]
 *
 * Each rank writes its own file DIR/rank-N.dat and its slice of a shared file
 * DIR/shared.dat (pwrite at rank * size), fsyncs, then, after a barrier, reads
 * back its neighbour's file and its neighbour's slice of the shared file and
 * verifies every byte.  Rank 0 prints one summary line; the exit status is 0
 * only if every rank verified everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deterministic content: byte i of rank r's data. */
static unsigned char pattern(int rank, size_t i)
{
	uint64_t x = (uint64_t)(rank + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(i / 8) * 0xBF58476D1CE4E5B9ull;
	return (unsigned char)(x >> ((i % 8) * 8));
}

static void fill(unsigned char *buf, size_t len, int rank)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(rank, i);
}

static size_t first_mismatch(const unsigned char *buf, size_t len, int rank)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(rank, i))
			return i;
	return len;
}

static int write_all(int fd, const unsigned char *buf, size_t len, off_t off, const char *path)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = off < 0 ? write(fd, buf + done, len - done)
				    : pwrite(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "mpi_io_demo: write %s: %s\n", path, strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int read_all(int fd, unsigned char *buf, size_t len, off_t off, const char *path)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "mpi_io_demo: read %s: %s\n", path,
				n < 0 ? strerror(errno) : "unexpected end of file");
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rank, size, ok = 1;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		if (rank == 0)
			printf("usage: mpi_io_demo DIR [MiB-per-rank]\n"
			       "Each rank writes DIR/rank-N.dat and a slice of DIR/shared.dat, then\n"
			       "verifies its neighbour's data.  Exit 0 when every byte matches.\n");
		MPI_Finalize();
		return argc < 2 ? 2 : 0;
	}
	const char *dir = argv[1];
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 4;
	size_t len = mib << 20;
	unsigned char *buf = malloc(len), *back = malloc(len);
	char path[4096], shared[4096];
	if (!buf || !back) {
		fprintf(stderr, "mpi_io_demo: out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	snprintf(shared, sizeof(shared), "%s/shared.dat", dir);
	if (rank == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mpi_io_demo: mkdir %s: %s\n", dir, strerror(errno));
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	MPI_Barrier(MPI_COMM_WORLD);

	double t0 = MPI_Wtime();
	fill(buf, len, rank);
	snprintf(path, sizeof(path), "%s/rank-%d.dat", dir, rank);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_all(fd, buf, len, -1, path) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "mpi_io_demo: rank %d: %s: %s\n", rank, path, strerror(errno));
		ok = 0;
	}
	fd = open(shared, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write_all(fd, buf, len, (off_t)rank * (off_t)len, shared) < 0 || fsync(fd) < 0 ||
	    close(fd) < 0) {
		fprintf(stderr, "mpi_io_demo: rank %d: %s: %s\n", rank, shared, strerror(errno));
		ok = 0;
	}
	MPI_Barrier(MPI_COMM_WORLD);
	double t1 = MPI_Wtime();

	int peer = (rank + 1) % size;
	snprintf(path, sizeof(path), "%s/rank-%d.dat", dir, peer);
	fd = open(path, O_RDONLY);
	if (fd < 0 || read_all(fd, back, len, 0, path) < 0 || close(fd) < 0) {
		ok = 0;
	} else if (first_mismatch(back, len, peer) != len) {
		fprintf(stderr, "mpi_io_demo: rank %d: %s differs at byte %zu\n", rank, path,
			first_mismatch(back, len, peer));
		ok = 0;
	}
	fd = open(shared, O_RDONLY);
	if (fd < 0 || read_all(fd, back, len, (off_t)peer * (off_t)len, shared) < 0 || close(fd) < 0) {
		ok = 0;
	} else if (first_mismatch(back, len, peer) != len) {
		fprintf(stderr, "mpi_io_demo: rank %d: %s slice %d differs\n", rank, shared, peer);
		ok = 0;
	}
	double t2 = MPI_Wtime();

	int all_ok = 0;
	MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (rank == 0) {
		double total = 2.0 * (double)len * size / (1 << 20);
		printf("mpi_io_demo: %d ranks wrote %.0f MiB to %s in %.3f s (%.1f MiB/s), "
		       "read back %.0f MiB in %.3f s (%.1f MiB/s): %s\n",
		       size, total, dir, t1 - t0, total / (t1 - t0), total, t2 - t1,
		       total / (t2 - t1), all_ok ? "all data verified" : "VERIFICATION FAILED");
	}
	free(buf);
	free(back);
	MPI_Finalize();
	return all_ok ? 0 : 1;
}
