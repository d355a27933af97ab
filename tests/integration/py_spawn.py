#!/usr/bin/env python3
"""posix_spawn and posix_spawnp with file actions and programs in DIR.

glibc's posix_spawn runs its file actions and its exec in a vfork child.
Run natively and under Ferry, the output must be identical."""
import errno
import os
import shutil
import stat
import sys

d = sys.argv[1]


def spawn(path, argv, actions=(), search=False):
    """The child's exit status, or the error posix_spawn gave."""
    fn = os.posix_spawnp if search else os.posix_spawn
    try:
        pid = fn(path, argv, os.environ, file_actions=list(actions))
    except OSError as e:
        return errno.errorcode[e.errno]
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def read(name):
    with open(os.path.join(d, name)) as f:
        return f.read()


W = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
# First, before anything else here touches DIR: the child's open is this
# process's first use of it.
print("open for stdout", spawn("/bin/echo", ["echo", "spawned"],
                               [(os.POSIX_SPAWN_OPEN, 1, f"{d}/out.txt", W, 0o644)]))
print("it holds", repr(read("out.txt")))
print("open in a missing directory", spawn("/bin/echo", ["echo"],
      [(os.POSIX_SPAWN_OPEN, 1, f"{d}/none/x", W, 0o644)]))
print("O_EXCL on an existing file", spawn("/bin/echo", ["echo"],
      [(os.POSIX_SPAWN_OPEN, 1, f"{d}/out.txt", W | os.O_EXCL, 0o644)]))
print("O_TRUNC again", spawn("/bin/echo", ["echo", "truncated"],
                             [(os.POSIX_SPAWN_OPEN, 1, f"{d}/out.txt", W, 0o644)]))
print("it holds", repr(read("out.txt")))
print("append on fd 7, dup2 to 1, close 7", spawn("/bin/echo", ["echo", "appended"], [
    (os.POSIX_SPAWN_OPEN, 7, f"{d}/out.txt", os.O_WRONLY | os.O_APPEND, 0),
    (os.POSIX_SPAWN_DUP2, 7, 1), (os.POSIX_SPAWN_CLOSE, 7)]))
print("it holds", repr(read("out.txt")))
print("stdin from a file", spawn("/bin/sh", ["sh", "-c", f"wc -l > {d}/count.txt"],
                                 [(os.POSIX_SPAWN_OPEN, 0, f"{d}/out.txt", os.O_RDONLY, 0)]))
print("line count", read("count.txt").strip())
PY = sys.executable
print("a high descriptor the program writes to", spawn(PY, [PY, "-c", "import os; os.write(200, b'high')"],
      [(os.POSIX_SPAWN_OPEN, 200, f"{d}/high.txt", W, 0o600)]))
print("it holds", repr(read("high.txt")), oct(stat.S_IMODE(os.stat(f"{d}/high.txt").st_mode)))
print("close-on-exec is not carried", spawn(PY, [PY, "-c", "import os, sys; sys.exit('5' in os.listdir('/proc/self/fd'))"],
      [(os.POSIX_SPAWN_OPEN, 5, f"{d}/cloexec.txt", W | os.O_CLOEXEC, 0o644)]))
print("but was created", os.path.exists(f"{d}/cloexec.txt"))

# Programs stored in DIR.
os.makedirs(f"{d}/bin", exist_ok=True)
shutil.copy("/bin/true", f"{d}/bin/true_copy")
shutil.copy("/bin/true", f"{d}/noexec")
os.chmod(f"{d}/noexec", 0o644)
with open(f"{d}/bin/hello", "w") as f:
    f.write("#!/bin/sh\necho hello \"$@\"\n")
os.chmod(f"{d}/bin/hello", 0o755)
print("a binary stored there", spawn(f"{d}/bin/true_copy", ["true_copy"]))
print("a script stored there", spawn(f"{d}/bin/hello", ["hello", "arg"],
                                     [(os.POSIX_SPAWN_OPEN, 1, f"{d}/hello.txt", W, 0o644)]))
print("it wrote", repr(read("hello.txt")))
print("no execute permission", spawn(f"{d}/noexec", ["noexec"]))
print("no such program", spawn(f"{d}/missing", ["missing"]))
os.environ["PATH"] = f"{d}/bin:/usr/bin:/bin"
print("posix_spawnp past a PATH entry without it", spawn("true", ["true"], search=True))
print("posix_spawnp of a script found on PATH", spawn("hello", ["hello", "found"], [
    (os.POSIX_SPAWN_OPEN, 1, f"{d}/found.txt", W, 0o644)], search=True))
print("it wrote", repr(read("found.txt")))
print("posix_spawnp of a missing program", spawn("no-such-program", ["x"], search=True))
