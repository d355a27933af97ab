#!/usr/bin/env python3
"""subprocess and multiprocessing writing into a directory (argv[1])."""
import multiprocessing
import os
import subprocess
import sys


def work(i):
    with open(os.path.join(OUT, f"pool-{i}.txt"), "w") as f:
        f.write(f"worker {i}\n" * (i + 1))
    return i * i


OUT = sys.argv[1] if len(sys.argv) > 1 else "."

if __name__ == "__main__":
    os.makedirs(os.path.join(OUT, "sub"), exist_ok=True)
    r = subprocess.run(["sh", "-c", "ls | sort > sub/listing.txt"], cwd=OUT)
    print("subprocess rc", r.returncode)
    out = subprocess.check_output(["cat", "sub/listing.txt"], cwd=OUT).decode()
    print("listing", out.split())
    with open(os.path.join(OUT, "sub", "piped.txt"), "w") as f:
        subprocess.run(["echo", "through a forwarded stdout"], stdout=f, check=True)
    for method in ("fork", "spawn", "forkserver"):
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(2) as pool:
            print(method, sum(pool.map(work, range(8))))
    print(sorted(os.listdir(OUT)))
