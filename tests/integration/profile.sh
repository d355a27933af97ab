#!/usr/bin/env bash
# profile: FERRY_PROFILE under a real ferry-iond (shm).  A program that
# writes to /pfs gets a profile whose write row counts the forwarded calls;
# %p gives each process its own file; a fork child starts from zero; an
# exec'd image appends its block after the one written before the exec;
# FERRY_PROFILE_SUMMARY=1 prints the table on stderr even when the program
# closed its own stderr; ferry-model reads what the runtime wrote.
source "$(dirname "$0")/lib.sh"
MODEL=$FERRY_BUILD/bin/ferry-model
command -v dash >/dev/null || { echo "dash not found"; exit 1; }
P=$T_DIR/prof
mkdir -p "$P"

start_iond shm

# 1. 50 forwarded writes (dd to /pfs), 1 local write to a local file.
export FERRY_PROFILE=$P/dd.%p.csv FERRY_PROFILE_SUMMARY=1
fx dd if=/dev/zero of=/pfs/out bs=512 count=50 status=none 2>"$T_DIR/dd.err"
fx sh -c "exec dd if=/dev/zero of=$LOCAL/out bs=512 count=1 status=none" 2>>"$T_DIR/dd.err"
unset FERRY_PROFILE FERRY_PROFILE_SUMMARY
files=("$P"/dd.*.csv)
check "one profile per process (%p): 2 files" test ${#files[@]} -eq 2
row() { awk -F, -v s="$2" '$1 == s' "$1"; }
f1= f2=
for f in "${files[@]}"; do
  if [ "$(grep -c '^# ferry-profile 1$' "$f")" = 1 ]; then f1=$f; else f2=$f; fi
done
check "the dd profile exists" test -n "$f1"
if [ -n "$f1" ]; then
  check "header: version, program, pid, wall_ns, syscall_ns, calls" \
    bash -c "grep -q '^# pid [0-9]*$' '$f1' && grep -q '^# wall_ns [1-9][0-9]*$' '$f1' &&
             grep -q '^# syscall_ns [0-9]*$' '$f1' && grep -q '^# calls [1-9][0-9]*$' '$f1'"
  check "columns line" grep -qx 'syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,forwarded_ns' "$f1"
  check "the 50 writes to /pfs are forwarded" test "$(row "$f1" write | cut -d, -f7)" -ge 50
  check "the write row: calls = local + forwarded" \
    test "$(row "$f1" write | awk -F, '{ print ($3 == $5 + $7) && ($4 == $6 + $8) }')" = 1
  check "openat of /pfs/out forwarded" test "$(row "$f1" openat | cut -d, -f7)" -ge 1
  check "mmap stays local" test "$(row "$f1" mmap | cut -d, -f7)" = 0
  check "the pid in the header is in the file name" grep -q "^# pid $(basename "$f1" | tr -dc 0-9)$" "$f1"
fi
# 2. exec: the shell's block, then dd's, in one file (same pid).
check "exec: the shell's profile file exists" test -n "$f2"
if [ -n "$f2" ]; then
  check "exec: two blocks, the shell's then dd's" \
    test "$(grep '^# program ' "$f2" | sed 's,.*/,,' | tr '\n' ' ')" = "$(grep '^# program ' "$f2" | head -n 1 | sed 's,.*/,,') dd "
  check "exec: both blocks have the same pid" test "$(grep '^# pid ' "$f2" | sort -u | wc -l)" = 1
  check "exec: dd's local write is local" test "$(awk -F, '$1 == "write" { l = $0 } END { print l }' "$f2" | cut -d, -f5)" -ge 1
fi
check "summary on stderr (dd closes its stderr at exit)" grep -q '^ferry profile: .*/dd (pid' "$T_DIR/dd.err"
check "summary: local and forwarded columns" grep -q 'local  usecs/call | forwarded' "$T_DIR/dd.err"
check "summary: the forwarded write line" grep -Eq '\| +50 +[0-9.]+ \| write$' "$T_DIR/dd.err"

# 3. fork: a child counts from zero and writes its own file.
# dash's ( ) subshell is a fork: 3 writes there, 1 in the parent.
FERRY_PROFILE=$P/fork.%p.csv fx dash -c '(echo a >/pfs/c; echo b >>/pfs/c; echo c >>/pfs/c); echo x >/pfs/p'
ff=("$P"/fork.*.csv)
check "fork: parent and child files" test ${#ff[@]} -eq 2
nfw=$(for f in "${ff[@]}"; do awk -F, '$1 == "write" { print $7 }' "$f"; done | sort -n | tr '\n' ' ')
check "fork: the child counted its 3 forwarded writes, the parent its 1 (got: $nfw)" test "$nfw" = "1 3 "

# 4. ferry-model reads it; off means no file.
check "ferry-model reads the runtime's profile" \
  bash -c "'$MODEL' --fc 5 --policy ferry,most '$f1' | grep -q '^ferry '"
FERRY_PROFILE= fx true
check "FERRY_PROFILE empty: no profile, no failure" test "$(ls "$P" | wc -l)" = 4
unwritable() { FERRY_PROFILE=/nonexistent/dir/p.csv fx true; }
check "an unwritable FERRY_PROFILE does not stop the program" unwritable
check "ferry-iond stops cleanly" stop_iond
finish
