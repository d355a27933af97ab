#!/usr/bin/env bash
# Unmodified programs on a forwarded /pfs give the same results as on a local
# directory, and their files land in the I/O node's export.
#   unmodified_tools.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: unmodified_tools.sh tcp|shm}
HERE=$(cd "$(dirname "$0")" && pwd)
start_iond "$PROV"
mkdir -p "$T_DIR/cwd"

# both NAME ARGV...: run ARGV natively with @D@ = the local directory and under
# Ferry with @D@ = /pfs; exit status and output (paths normalised) must match.
both() {
  local name=$1; shift
  local -a la=() fa=()
  local a
  for a in "$@"; do la+=("${a//@D@/$LOCAL}"); fa+=("${a//@D@//pfs}"); done
  local lo fo lrc=0 frc=0
  lo=$(cd "$T_DIR/cwd" && "${la[@]}" 2>&1) || lrc=$?
  fo=$(cd "$T_DIR/cwd" && fx "${fa[@]}" 2>&1) || frc=$?
  lo=${lo//$LOCAL/@D@}
  fo=${fo//\/pfs/@D@}
  if [ "$lrc" -eq "$frc" ] && [ "$lo" == "$fo" ]; then
    ok "$name"
  else
    fail "$name (exit local $lrc, ferry $frc)"
    diff <(echo "$lo") <(echo "$fo") | head -20 || true
  fi
}

head -c $((48 << 20)) /dev/urandom > "$T_DIR/big.bin"
printf 'line one\nline two\n' > "$T_DIR/small.txt"

both "mkdir -p"                 mkdir -p @D@/in/sub/deep @D@/out
both "cp a 48 MiB file in"      cp "$T_DIR/big.bin" @D@/in/big.bin
both "cp a small file in"       cp "$T_DIR/small.txt" @D@/in/sub/small.txt
both "sha256sum"                sha256sum @D@/in/big.bin @D@/in/sub/small.txt
both "cat"                      cat @D@/in/sub/small.txt
both "cat a missing file"       cat @D@/in/none.txt
both "dd with skip/seek"        dd if=@D@/in/big.bin of=@D@/in/dd.bin bs=1M count=8 skip=3 seek=1 status=none
both "dd conv=notrunc"          dd if=/dev/zero of=@D@/in/dd.bin bs=4k count=3 seek=5 conv=notrunc status=none
both "cmp dd result"            sha256sum @D@/in/dd.bin
both "ls -l"                    ls -l --time-style=+ @D@/in @D@/in/sub
both "mv"                       mv @D@/in/dd.bin @D@/in/moved.bin
both "ln -s"                    ln -s moved.bin @D@/in/link
both "ls -l a symlink"          ls -l --time-style=+ @D@/in/link
both "read through a symlink"   sha256sum @D@/in/link
both "cp -r"                    cp -r @D@/in/sub @D@/in/sub2
both "find"                     find @D@ -printf '%y %m %s %p %l\n'
both "tar c"                    tar cf "$T_DIR/tar-$RANDOM.tar" -C @D@ in
tar cf "$T_DIR/in.tar" -C "$LOCAL" in
both "tar x"                    tar xf "$T_DIR/in.tar" -C @D@/out
both "tar t of a file on /pfs"  sh -c 'tar cf - -C "$1" in | tar tvf - --numeric-owner | awk "{print \$1, \$3, \$6}" | sort' sh @D@
both "rm -r"                    rm -r @D@/in/sub2 @D@/out/in/sub
both "rmdir a non-empty dir"    rmdir @D@/out
both "python3 file operations"  python3 "$HERE/py_fileops.py" @D@/py
both "sqlite3 10,000 rows"      sqlite3 @D@/db.sqlite ".read $HERE/sqlite_rows.sql"
both "sqlite3 reopen and check" sqlite3 @D@/db.sqlite "PRAGMA integrity_check; SELECT count(*), sum(v) FROM t;"

# FERRY_IONODE / FERRY_MOUNTS instead of the flags.
check "FERRY_IONODE and FERRY_MOUNTS instead of flags" bash -c \
  'test "$(FERRY_IONODE=$1 FERRY_MOUNTS=/pfs timeout 60 "$2" -- cat /pfs/in/sub/small.txt)" = "$(cat "$3")"' \
  sh "$IONODE_URI" "$FEXEC" "$T_DIR/small.txt"

# The I/O node's export holds exactly what the local run produced.
check "export tree equals the local tree" diff -r --no-dereference "$LOCAL" "$EXPORT"
check "file landed in the export" cmp -s "$T_DIR/big.bin" "$EXPORT/in/big.bin"
check "compute side has no /pfs" test ! -e /pfs
check "the database is whole on the I/O node" \
  test "$(sqlite3 "$EXPORT/db.sqlite" 'PRAGMA integrity_check; SELECT count(*) FROM t;' | tr '\n' ' ')" = "ok 9990 "

# Confinement: nothing outside the export is reachable.
ln -s /etc/passwd "$EXPORT/abs-link"
ln -s ../../../../../../../../etc/passwd "$EXPORT/rel-link"
fx_fails "cat /pfs/../../etc/passwd fails" cat /pfs/../../etc/passwd
fx_fails "absolute symlink out of the export fails" cat /pfs/abs-link
fx_fails "relative symlink out of the export fails" cat /pfs/rel-link
check "the daemon logged the escapes" grep -qi 'escape\|outside' "$IOND_LOG"

check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish
