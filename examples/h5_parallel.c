/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h5_parallel: parallel HDF5 (the MPI-IO driver) writing one dataset
 * collectively from every rank, then reading it back collectively.
 *
 *   h5pcc -o h5_parallel h5_parallel.c
 *   mpirun -np 8 ferry-exec --ionode URI --mount /pfs -- h5_parallel /pfs/file.h5 [rows-per-rank]
 *   ferry-exec --ionode URI --mount /pfs -- h5dump /pfs/file.h5
 *
 * The file holds /data, a 2-D int32 dataset of (P * rows) x 16 elements
 * whose element (i, j) is i * 16 + j: rank r writes rows [r*rows, (r+1)*rows)
 * as one hyperslab with a collective transfer (H5Pset_dxpl_mpio), then reads
 * back its neighbour's rows and compares.  /data carries two attributes,
 * "ranks" (P) and "rows_per_rank".  Rank 0 prints one summary line; the exit
 * status is 0 only if every value matched and the transfers were collective.
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS 16

static int rank_;
static int errors;

/* HDF5 calls return a negative value on failure (and print their stack). */
#define H5_TRY(expr, what)                                                                             \
	do {                                                                                           \
		if ((expr) < 0) {                                                                      \
			fprintf(stderr, "h5_parallel: rank %d: %s failed (%s)\n", rank_, #expr, what); \
			errors++;                                                                      \
		}                                                                                      \
	} while (0)

static int value(hsize_t row, hsize_t col)
{
	return (int)(row * COLS + col);
}

static int write_attr(hid_t dset, const char *name, int v)
{
	hid_t space = H5Screate(H5S_SCALAR);
	hid_t attr = H5Acreate2(dset, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
	int rc = attr < 0 ? -1 : H5Awrite(attr, H5T_NATIVE_INT, &v);
	if (attr >= 0)
		H5Aclose(attr);
	H5Sclose(space);
	return rc;
}

/* Was the last transfer on DXPL collective, as asked? */
static int was_collective(hid_t dxpl)
{
	H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
	if (H5Pget_mpio_actual_io_mode(dxpl, &mode) < 0)
		return 0;
	return mode != H5D_MPIO_NO_COLLECTIVE;
}

int main(int argc, char **argv)
{
	int nranks;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		if (rank_ == 0)
			printf("usage: h5_parallel FILE [rows-per-rank]\n"
			       "All ranks write dataset /data (rows-per-rank rows of %d int32 each,\n"
			       "element (i, j) = i * %d + j) to FILE with collective MPI-IO, then\n"
			       "read back a neighbour's rows.  Exit 0 when every value matches.\n",
			       COLS, COLS);
		MPI_Finalize();
		return argc < 2 ? 2 : 0;
	}
	const char *path = argv[1];
	hsize_t rows = argc > 2 ? strtoull(argv[2], NULL, 10) : 64;
	if (rows == 0 || rows > (1u << 20)) {
		if (rank_ == 0)
			fprintf(stderr, "h5_parallel: rows-per-rank must be between 1 and %u\n", 1u << 20);
		MPI_Finalize();
		return 2;
	}
	int *buf = malloc(rows * COLS * sizeof(int));
	if (buf == NULL) {
		fprintf(stderr, "h5_parallel: rank %d: out of memory\n", rank_);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	double t0 = MPI_Wtime();

	/* ---- write: one hyperslab per rank, collective ---- */
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
	H5_TRY(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL), path);
	H5_TRY(H5Pset_all_coll_metadata_ops(fapl, 1), path);
	H5_TRY(H5Pset_coll_metadata_write(fapl, 1), path);
	hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	if (file < 0) {
		fprintf(stderr, "h5_parallel: rank %d: cannot create %s\n", rank_, path);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	hsize_t dims[2] = { rows * (hsize_t)nranks, COLS };
	hid_t fspace = H5Screate_simple(2, dims, NULL);
	hid_t dset = H5Dcreate2(file, "/data", H5T_STD_I32LE, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (dset < 0) {
		fprintf(stderr, "h5_parallel: rank %d: cannot create /data in %s\n", rank_, path);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	H5_TRY(write_attr(dset, "ranks", nranks), "attribute ranks");
	H5_TRY(write_attr(dset, "rows_per_rank", (int)rows), "attribute rows_per_rank");

	hsize_t start[2] = { (hsize_t)rank_ * rows, 0 }, count[2] = { rows, COLS };
	for (hsize_t i = 0; i < rows; i++)
		for (hsize_t j = 0; j < COLS; j++)
			buf[i * COLS + j] = value(start[0] + i, j);
	hid_t mspace = H5Screate_simple(2, count, NULL);
	H5_TRY(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), "hyperslab");
	hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
	H5_TRY(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "transfer property");
	H5_TRY(H5Dwrite(dset, H5T_NATIVE_INT, mspace, fspace, dxpl, buf), path);
	int collective = was_collective(dxpl);
	H5_TRY(H5Fflush(file, H5F_SCOPE_GLOBAL), path);
	H5Dclose(dset);
	H5Sclose(fspace);
	H5_TRY(H5Fclose(file), path);
	double t1 = MPI_Wtime();

	/* ---- read back the neighbour's rows, collective ---- */
	long long bad = 0;
	int peer = (rank_ + 1) % nranks;
	file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	dset = file < 0 ? -1 : H5Dopen2(file, "/data", H5P_DEFAULT);
	if (dset < 0) {
		fprintf(stderr, "h5_parallel: rank %d: cannot reopen /data in %s\n", rank_, path);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	fspace = H5Dget_space(dset);
	hsize_t got[2] = { 0, 0 };
	H5Sget_simple_extent_dims(fspace, got, NULL);
	if (got[0] != dims[0] || got[1] != dims[1]) {
		fprintf(stderr, "h5_parallel: rank %d: /data is %llu x %llu, expected %llu x %llu\n", rank_,
			(unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)dims[0],
			(unsigned long long)dims[1]);
		bad++;
	}
	start[0] = (hsize_t)peer * rows;
	memset(buf, 0xff, rows * COLS * sizeof(int));
	H5_TRY(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), "hyperslab");
	H5_TRY(H5Dread(dset, H5T_NATIVE_INT, mspace, fspace, dxpl, buf), path);
	collective = collective && was_collective(dxpl);
	for (hsize_t i = 0; i < rows && bad == 0; i++)
		for (hsize_t j = 0; j < COLS; j++)
			if (buf[i * COLS + j] != value(start[0] + i, j)) {
				fprintf(stderr, "h5_parallel: rank %d: /data[%llu][%llu] is %d, expected %d\n", rank_,
					(unsigned long long)(start[0] + i), (unsigned long long)j, buf[i * COLS + j],
					value(start[0] + i, j));
				bad++;
				break;
			}
	H5Pclose(dxpl);
	H5Sclose(mspace);
	H5Sclose(fspace);
	H5Dclose(dset);
	H5_TRY(H5Fclose(file), path);
	H5Pclose(fapl);
	double t2 = MPI_Wtime();

	long long local[3] = { bad, errors, !collective }, all[3] = { 0, 0, 0 };
	MPI_Allreduce(local, all, 3, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
	int ok = all[0] == 0 && all[1] == 0 && all[2] == 0;
	if (rank_ == 0) {
		printf("h5_parallel: %d ranks wrote /data (%llu x %d int32) to %s in %.3f s, read back in %.3f s: ",
		       nranks, (unsigned long long)dims[0], COLS, path, t1 - t0, t2 - t1);
		if (ok)
			printf("collective, all values verified\n");
		else
			printf("FAILED (%lld wrong values, %lld failed calls, %lld ranks without collective I/O)\n",
			       all[0], all[1], all[2]);
	}
	free(buf);
	MPI_Finalize();
	return ok ? 0 : 1;
}
