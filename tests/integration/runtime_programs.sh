#!/usr/bin/env bash
# Whole programs under the runtime (issue: threads, fork, exec, signals):
# make -j2, shell pipelines and subshells, python subprocess and
# multiprocessing, git, an 8-thread pwrite program, fork sharing offsets, and
# programs stored under /pfs.  Each runs in /pfs under ferry-exec and in a
# local directory natively; the results must be the same.
#   runtime_programs.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: runtime_programs.sh tcp|shm}
SRC=$(cd "$(dirname "$0")" && pwd)
TESTBIN=$FERRY_BUILD/tests
start_iond "$PROV"

# both NAME SCRIPT: run SCRIPT (bash, with $D the work directory) natively in
# $LOCAL/NAME and under Ferry in /pfs/NAME; outputs go to $T_DIR/NAME.{local,ferry}.
both() {
  local name=$1 script=$2
  mkdir -p "$LOCAL/$name" "$EXPORT/$name"
  (cd "$LOCAL/$name" && D=$LOCAL/$name timeout -k 5 120 bash -c "$script") \
    >"$T_DIR/$name.local" 2>&1 || echo "exit $?" >>"$T_DIR/$name.local"
  fx env D=/pfs/$name bash -c "cd /pfs/$name && $script" \
    >"$T_DIR/$name.ferry" 2>&1 || echo "exit $?" >>"$T_DIR/$name.ferry"
  # Paths in messages name the directory: compare without it.
  sed -i "s#$LOCAL/$name#DIR#g" "$T_DIR/$name.local"
  sed -i "s#/pfs/$name#DIR#g" "$T_DIR/$name.ferry"
}

same_output() {
  if diff -u "$T_DIR/$1.local" "$T_DIR/$1.ferry"; then return 0; fi
  return 1
}

same_tree() {
  diff -r "$LOCAL/$1" "$EXPORT/$1"
}

# --- make -j2 on a C project in /pfs --------------------------------------
for d in "$LOCAL/make" "$EXPORT/make"; do
  mkdir -p "$d"
  for i in 1 2 3 4 5 6; do printf 'int f%d(void) { return %d; }\n' "$i" "$i" >"$d/f$i.c"; done
  {
    for i in 1 2 3 4 5 6; do printf 'int f%d(void);\n' "$i"; done
    printf '#include <stdio.h>\nint main(void) { printf("sum %%d\\n", f1()+f2()+f3()+f4()+f5()+f6()); return 0; }\n'
  } >"$d/main.c"
  printf 'OBJS = main.o f1.o f2.o f3.o f4.o f5.o f6.o\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n%%.o: %%.c\n\t$(CC) -c -o $@ $<\n' >"$d/Makefile"
done
both make 'make -s -j2 && ./prog && ls *.o | sort && make -s -j2 && echo up-to-date'
check "make -j2 builds the project in /pfs as locally" same_output make
check "the program built in /pfs prints the right sum" grep -qx "sum 21" "$T_DIR/make.ferry"
check "objects and binary are on the I/O node" test -x "$EXPORT/make/prog" -a -s "$EXPORT/make/f6.o"

# --- shell pipelines, subshells, redirections ---------------------------
both shell 'printf "pear\napple\nfig\n" > a; sh -c "cat $D/a | sort > $D/b; echo done >> $D/b"; cat b
exec 3> log; echo parent1 >&3; (echo subshell >&3); echo parent2 >&3
{ echo g1; /bin/echo g2; } | cat >&3; sh -c "/bin/echo ext; echo builtin" >&3; exec 3>&-
cat log; wc -l < log; (cd "$D" && cat b | wc -c)'
check "pipelines, subshells and redirections in /pfs match" same_output shell
check "a subshell writes through its parent's descriptor (shared offset)" \
  test "$(cat "$EXPORT/shell/log")" = "$(cat "$LOCAL/shell/log")"

# --- python subprocess and multiprocessing --------------------------------
both python "python3 $SRC/programs/py_procs.py ."
check "python subprocess and multiprocessing pools write the same files" same_tree python
check "python subprocess and multiprocessing output matches" same_output python

# --- git init / add / commit ----------------------------------------------
export GIT_AUTHOR_NAME=ferry GIT_AUTHOR_EMAIL=ferry@example.org GIT_COMMITTER_NAME=ferry \
  GIT_COMMITTER_EMAIL=ferry@example.org GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" \
  GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" GIT_CONFIG_NOSYSTEM=1 HOME=$T_DIR
both git 'git init -q -b main repo && cd repo && mkdir -p src && echo one > src/a.txt &&
printf "x\ny\n" > b.txt && git add . && git commit -q -m first && echo two >> src/a.txt &&
git mv b.txt c.txt && git commit -q -am second && git log --format="%H %s" &&
git ls-files && git status --porcelain && git fsck --no-progress && git gc -q && git log --oneline | wc -l'
check "git init/add/commit/gc in /pfs gives the same commits" same_output git
check "git's objects are on the I/O node" test -d "$EXPORT/git/repo/.git/objects"

# --- 8 threads writing with pwrite ---------------------------------------
both threads "$TESTBIN/pwrite_threads . 32"
check "8 threads' pwrite output verified byte for byte under Ferry" grep -q "all bytes verified" "$T_DIR/threads.ferry"
check "the threads' files equal the local run's" same_tree threads

# --- small stacks: POSIX AIO threads, a 32 KiB-stack pthread -----------------
both stacks "$TESTBIN/small_stacks aio.dat"
check "AIO threads and small-stack threads forward calls" same_output stacks

# --- signals interrupt (or restart) blocked lock waits ----------------------
both signals "$TESTBIN/lock_signals lock.dat"
check "a signal interrupts F_SETLKW/flock (EINTR) or restarts it (SA_RESTART) as locally" same_output signals

# --- fork shares offsets --------------------------------------------------
both fork "$TESTBIN/fork_share shared.txt && cat shared.txt"
check "fork child shares the open file (offsets), close is independent" same_output fork

# --- programs stored in /pfs ----------------------------------------------
for d in "$LOCAL/exec" "$EXPORT/exec"; do
  mkdir -p "$d"
  printf '#!/bin/sh\necho "script $0 args: $*"\necho "cwd $(basename "$(pwd)")"\n' >"$d/tool.sh"
  printf '#!/usr/bin/env python3\nimport sys\nprint("python script", sys.argv[1:])\n' >"$d/tool.py"
  chmod +x "$d/tool.sh" "$d/tool.py"
  printf 'not executable\n' >"$d/plain.sh"
  cp "$TESTBIN/fork_share" "$d/fork_share_copy"
done
both exec "$TESTBIN/exec_script \$D/tool.sh a b; $TESTBIN/exec_script ./tool.py c;
./tool.sh d; sh -c \"\$D/tool.sh e\"; ./fork_share_copy f.txt; cat f.txt;
./plain.sh; echo rc=\$?;
python3 -c 'import subprocess, sys; subprocess.run([sys.argv[1], \"spawned\"], check=True)' \$D/tool.sh"
check "scripts and binaries stored in /pfs run as locally" same_output exec

check "ferry-exec runs a program stored in /pfs directly" \
  test "$(fx /pfs/exec/tool.sh direct | head -n1)" = "script /pfs/exec/tool.sh args: direct"

# --- static programs: refused loudly, or run on request -----------------
out=$(fx sh -c "$TESTBIN/static_hello; echo rc=\$?" 2>&1 || true)
check "a static program exec'd under the runtime is refused (ENOEXEC)" grep -q "rc=126" <<<"$out"
check "the refusal names the program and the way out" grep -q "static_hello is statically linked.*FERRY_STATIC=run" <<<"$out"
check "FERRY_STATIC=run runs it, with a warning" \
  grep -q "static program ran" <<<"$(fx env FERRY_STATIC=run "$TESTBIN/static_hello" 2>&1)"

check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish
