#!/usr/bin/env bash
# kill -9 of a client in the middle of a 1 GiB write: the daemon closes that
# session's descriptors and goes on serving the next client.
#   kill_client.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: kill_client.sh tcp|shm}
# A client killed between transfers is found by the daemon's pings (tcp:
# the last reply may still land in the dead socket's buffer without error);
# ping every 2 s so that the check below does not depend on where the kill
# falls.
export FERRY_RPC_PING_S=2
start_iond "$PROV"
unset FERRY_RPC_PING_S

"$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- \
  dd if=/dev/zero of=/pfs/big.bin bs=16M count=64 status=none &
victim=$!
# Wait until the write is under way (some data has reached the export).
for _ in $(seq 300); do
  size=$(stat -c %s "$EXPORT/big.bin" 2>/dev/null || echo 0)
  [ "$size" -gt $((32 << 20)) ] && break
  sleep 0.05
done
check "the write was under way" test "$size" -gt 0
check "the client was still writing" test "$size" -lt $((1 << 30))
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true

# The daemon notices (a failed bulk transfer or the next probe) and closes the
# session's descriptors; give it a few seconds.
closed=1
for _ in $(seq 100); do
  if ! ls -l "/proc/$IOND_PID/fd" 2>/dev/null | grep -q big.bin; then closed=0; break; fi
  sleep 0.1
done
check "the dead client's descriptors are closed in the daemon" test $closed -eq 0
check "the daemon is still running" kill -0 "$IOND_PID"
if [ "$PROV" = shm ]; then
  # Nothing else would ever remove a killed client's 16 MiB region.
  gone=1
  for _ in $(seq 50); do
    compgen -G "/dev/shm/ferry-$victim-*" >/dev/null || { gone=0; break; }
    sleep 0.1
  done
  check "the dead client's shared-memory region is removed" test $gone -eq 0
fi

printf 'after the crash\n' > "$T_DIR/next.txt"
check "the next client is served" fx cp "$T_DIR/next.txt" /pfs/next.txt
check "its file is intact" cmp -s "$T_DIR/next.txt" "$EXPORT/next.txt"
check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish
