#!/usr/bin/env python3
"""Create, append, seek, rename and list files in DIR; print what was seen.

Run natively and under Ferry, the output must be identical."""
import os
import sys

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
p = os.path.join(d, "a.txt")
with open(p, "w") as f:
    f.write("hello\n")
with open(p, "a") as f:
    f.write("appended\n")
with open(p, "r+b") as f:
    f.seek(2)
    f.write(b"LL")
    f.seek(0, os.SEEK_END)
    print("size after seek-end", f.tell())
    f.seek(-4, os.SEEK_END)
    print("tail", f.read())
with open(p) as f:
    print("content", repr(f.read()))
os.rename(p, os.path.join(d, "b.txt"))
for i in range(20):
    with open(os.path.join(d, f"n{i:02d}"), "wb") as f:
        f.write(os.urandom(0) + bytes([i]) * (i * 100))
print("listing", sorted(os.listdir(d)))
print("sizes", [os.path.getsize(os.path.join(d, n)) for n in sorted(os.listdir(d))])
st = os.stat(os.path.join(d, "b.txt"))
print("mode", oct(st.st_mode), "size", st.st_size, "nlink", st.st_nlink)
try:
    os.open(os.path.join(d, "b.txt"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError as e:
    print("O_EXCL", e.errno)
try:
    os.rmdir(d)
except OSError as e:
    print("rmdir non-empty", e.errno)
with open(os.path.join(d, "b.txt"), "rb") as f:
    os.lseek(f.fileno(), 3, os.SEEK_SET)
    print("pread", os.pread(f.fileno(), 5, 1), "pos", os.lseek(f.fileno(), 0, os.SEEK_CUR))
os.unlink(os.path.join(d, "n00"))
print("after unlink", len(os.listdir(d)))
for root, dirs, files in os.walk(d):
    print("walk", root.replace(d, "@"), sorted(files)[:3])
