#!/usr/bin/env bash
# What the runtime carries across exec, which the kernel does not: a
# forwarded working directory and forwarded descriptors (shell redirections).
# A forwarded descriptor that cannot be carried fails loudly, never /dev/null.
#   cnk_exec_state.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: cnk_exec_state.sh tcp|shm}
start_iond "$PROV"
cd "$T_DIR" || exit 1

# bash forks (and execs) for each external command.
check "cwd survives exec" \
  test "$(fx bash -c 'mkdir -p /pfs/w && cd /pfs/w && /bin/pwd')" == /pfs/w
check "relative paths after exec use the forwarded cwd" \
  test "$(fx bash -c 'cd /pfs/w && echo rel > r.txt && cat r.txt')" == rel
check "the runtime's variables are not the program's" \
  test "$(fx bash -c 'cd /pfs/w && env | grep -c ^FERRY_CWD=')" == 0
check "stdout redirected to a forwarded file" \
  test "$(fx bash -c 'printf "a\nb\n" > /pfs/in.txt; cat /pfs/in.txt > /pfs/out.txt; cat /pfs/out.txt')" == "$(printf 'a\nb')"
check "the export holds it" cmp -s <(printf 'a\nb\n') "$EXPORT/out.txt"
check "stdin from a forwarded file" \
  test "$(fx bash -c 'wc -l < /pfs/in.txt')" == 2
check "append redirection" \
  test "$(fx bash -c 'echo c >> /pfs/in.txt; /usr/bin/tail -n1 /pfs/in.txt')" == c
check "an offset carried across exec" \
  test "$(fx bash -c 'exec 3< /pfs/in.txt; read -r -u 3 first; exec cat <&3')" == "$(printf 'b\nc')"
check "a fork child writes through a descriptor its shell opened" \
  test "$(fx bash -c '{ /bin/cat /pfs/in.txt; } > /pfs/group.txt; cat /pfs/group.txt')" == "$(cat "$EXPORT/in.txt")"
check "a binary stored on the I/O node runs" \
  fx bash -c 'cp /bin/true /pfs/true && chmod +x /pfs/true && /pfs/true'
fx_fails "a file of the I/O node without execute permission does not run" \
  bash -c 'cp /bin/true /pfs/noexec && chmod -x /pfs/noexec && /pfs/noexec'

# dash, posix_spawn, system() and python's subprocess create children with
# vfork (CLONE_VM|CLONE_VFORK): the runtime sees their calls and their exec.
check "dash: a forwarded descriptor of the shell itself" \
  test "$(fx dash -c 'exec 3>/pfs/d3.txt; echo hi >&3; exec 3>&-; cat /pfs/d3.txt')" == hi
check "the export holds it" test "$(cat "$EXPORT/d3.txt")" == hi
printf 'b\na\n' > "$EXPORT/a.txt"; printf 'b\na\n' > "$LOCAL/a.txt"
fx sh -c 'cat /pfs/a.txt | sort > /pfs/b.txt; echo done >> /pfs/b.txt'
(cd "$LOCAL" && sh -c 'cat a.txt | sort > b.txt; echo done >> b.txt')
check "sh: a pipeline into a forwarded file, then an append" cmp -s "$LOCAL/b.txt" "$EXPORT/b.txt"
mkdir -p "$EXPORT/d" && touch "$EXPORT/d/only-here"
check "dash: the forwarded cwd survives its vfork child's exec" \
  test "$(fx dash -c 'cd /pfs/d && ls')" == only-here
check "python subprocess (vfork) runs a shell that writes a forwarded file" \
  fx python3 -c 'import subprocess; subprocess.run(["sh", "-c", "echo x > /pfs/p.txt"], check=True)'
check "the export holds it" test "$(cat "$EXPORT/p.txt")" == x
check "posix_spawn carries the forwarded cwd" \
  test "$(fx python3 -c 'import os; os.chdir("/pfs/d"); pid = os.posix_spawn("/bin/pwd", ["pwd"], os.environ); os.waitpid(pid, 0)')" == /pfs/d
check "system() carries the forwarded cwd" \
  test "$(fx python3 -c 'import os; os.chdir("/pfs/d"); os.system("ls")')" == only-here
check "dash: a redirection its vfork child carries across exec" \
  test "$(fx dash -c '/bin/echo kept > /pfs/vf.txt; cat /pfs/vf.txt')" == kept
check "the export holds it" test "$(cat "$EXPORT/vf.txt")" == kept
check "dash: an offset noted before the vfork" \
  test "$(fx dash -c 'exec 4< /pfs/in.txt; read -r first <&4; /usr/bin/head -n1 <&4')" == b
check "dash: vfork children share the shell's descriptor and its offset" \
  test "$(fx dash -c 'exec 3>/pfs/twice.txt; /bin/echo a >&3; /bin/echo b >&3; echo c >&3; cat /pfs/twice.txt')" == "$(printf 'a\nb\nc')"
check "dash vforks 1000 times with a forwarded cwd and descriptors" \
  test "$(fx dash -c 'cd /pfs/d; exec 3>>/pfs/loop.txt; i=0; while [ $i -lt 1000 ]; do /nonexistent/x 2>/dev/null; i=$((i+1)); done; echo "$i" >&3; pwd; cat /pfs/loop.txt')" == "$(printf '/pfs/d\n1000')"
check "posix_spawn's dup2 of a forwarded descriptor" \
  fx python3 -c 'import os; fd = os.open("/pfs/ps.txt", os.O_WRONLY | os.O_CREAT); os.waitpid(os.posix_spawn("/bin/echo", ["echo", "spawned"], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)]), 0)'
check "the export holds it" test "$(cat "$EXPORT/ps.txt")" == spawned
# posix_spawn's file actions open files under /pfs in the vfork child, and
# it runs programs stored there: the same results as on a local directory.
mkdir -p "$LOCAL/spawn" "$EXPORT/spawn"
spawn_local=$(python3 "$(dirname "$0")/py_spawn.py" "$LOCAL/spawn" 2>&1)
spawn_fx=$(fx python3 "$(dirname "$0")/py_spawn.py" /pfs/spawn 2>&1)
if [ "${spawn_local//$LOCAL/@D@}" == "${spawn_fx//\/pfs/@D@}" ]; then
  ok "posix_spawn: file actions and programs under /pfs as on a local directory"
else
  fail "posix_spawn: file actions and programs under /pfs as on a local directory"
  diff <(echo "${spawn_local//$LOCAL/@D@}") <(echo "${spawn_fx//\/pfs/@D@}") || true
fi
check "no call reached the I/O node with a sequence number used before" \
  bash -c '! grep "sequence number" "$1"' sh "$IOND_LOG"

stop_iond
finish
