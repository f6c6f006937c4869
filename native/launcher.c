/*
 * agentsh session sandbox launcher. It makes no policy decision: the server compiles the
 * policy into a PLAN, the launcher applies it, reports facts back and execs the command.
 *
 *   agentsh-launcher --plan-fd N --report-fd M -- PROGRAM ARGV0 [ARGS...]
 *   agentsh-launcher --probe            (facts about this kernel, one per line, on stdout)
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -o agentsh-launcher launcher.c
 *
 * PLAN FORMAT (read from fd N until EOF). One directive per line:
 * KEY[<TAB>VALUE[<TAB>OPTS[<TAB>SRC]]] (SRC only for bind_ro, bind_rw, overlay).
 * VALUE, OPTS and SRC are escaped so that any byte survives: "\\" = backslash, "\t" = TAB,
 * "\n" = newline, "\xHH" = any byte. Empty lines and lines starting with '#' are ignored.
 * An unknown directive or a malformed value fails the whole plan (exit 126).
 *
 *   unshare      mount,pid,ipc,uts,net,user,cgroup  namespaces (user: see user_map)
 *   user_map     root|identity             with `unshare user`: root (default) maps the
 *                                            caller's uid/gid to 0 inside; identity maps
 *                                            them to themselves ("1000 1000 1"). Either
 *                                            way the launcher holds the namespace's
 *                                            capabilities until exec (mounts, Landlock,
 *                                            caps); an unprivileged command then runs
 *                                            without any. Fails without `unshare user`.
 *   net_lo                                 bring "lo" up in the new network namespace
 *                                            (right after unshare; fails without `unshare
 *                                            net`): 127.0.0.1 and ::1, no other interface
 *   relay        PROTO:PORT UNIX HELLO     (up to 8; needs net_lo and unshare pid) a
 *                                            listener on 127.0.0.1:PORT (PROTO tcp or udp)
 *                                            in the new network namespace, bound by the
 *                                            outer launcher right after net_lo and served
 *                                            by it (the supervisor) from outside the
 *                                            sandbox's mount namespace: each connection
 *                                            (tcp) or datagram (udp) goes to the unix
 *                                            socket UNIX, preceded by the line HELLO.
 *                                            Wire details: relay.c. `ok relay`; a bind
 *                                            failure is `fail relay tcp|udp ERRNO`
 *   hostname     NAME                      (needs uts)
 *   bind_ro      PATH [OPTS [SRC]]         the host's SRC (default: PATH itself) at PATH in
 *   bind_rw      PATH [OPTS [SRC]]           the new root, recursively; nosuid, and nodev
 *                                            unless SRC is itself a device node (/dev/null).
 *                                            OPTS: comma list (may be empty when SRC
 *                                            follows) of noexec, optional (missing SRC →
 *                                            skip). A file SRC is bound over a file at PATH
 *                                            (an existing one, e.g. /etc/passwd in a
 *                                            read-only bind of /etc, or a new empty one; an
 *                                            existing symlink is covered, not followed). A
 *                                            SRC that is a symlink is recreated as the same
 *                                            symlink at PATH when SRC is PATH (merged /usr:
 *                                            /bin -> usr/bin) and refused (ELOOP) otherwise.
 *                                            Errors about the source name SRC.
 *   overlay      PATH OPTS LAYERS          read-only overlayfs (no upper layer) of the host
 *                                            directories LAYERS (':'-separated, topmost
 *                                            first, at least two: overlayfs needs two lower
 *                                            layers without an upper one; none may contain
 *                                            ':' ',' '\\': EINVAL) at PATH; nosuid, nodev,
 *                                            OPTS: empty or noexec. Adds entries to a host
 *                                            directory without writing to it. Needs kernel
 *                                            >= 6.8 (fsconfig "lowerdir+").
 *   symlink      PATH TARGET               a symlink PATH -> TARGET in the new root
 *                                            (/dev/fd -> /proc/self/fd on a tmpfs /dev)
 *   tmpfs        PATH [OPTS]               fresh tmpfs; OPTS: noexec, ro, and mode=/size=
 *                                            passed to tmpfs (default mode=0755)
 *   proc         [hidepid=N]               fresh /proc of the new pid namespace
 *                Mount steps (bind_*, overlay, symlink, tmpfs, proc) need `unshare mount`.
 *                A mountpoint missing in the new root is created (directories, or an empty
 *                file for a file bind) unless its parent is read-only (a ro bind or an
 *                overlay: EROFS, so a mount below an overlay needs its mountpoint in one of
 *                the layers).
 *   chdir        PATH                      inside the new root
 *   rlimit       NAME SOFT [HARD]          NAME: AS CORE CPU DATA FSIZE MEMLOCK NOFILE
 *                                            NPROC STACK; numbers or "unlimited"
 *   cgroup       PATH                      a cgroup.procs file (host path; up to 8, one
 *                                            per hierarchy) the command joins: opened
 *                                            O_WRONLY when the plan is read (the host tree
 *                                            is still visible, the caller's credentials),
 *                                            "0\n" written at step 8 by the command process
 *                                            itself (pid 2 with a pid namespace: pid 1 stays
 *                                            outside, everything the command forks is
 *                                            inside). Mandatory: `fail cgroup PATH ERRNO`.
 *                                            The server creates, limits and removes the
 *                                            cgroups (src/sandbox/cgroups.ts).
 *   landlock_ro   PATH                     read files, list dirs
 *   landlock_rw   PATH                     ro + write, create, delete, rename, truncate,
 *                                            ioctl on devices (not mknod of devices)
 *   landlock_exec PATH                     ro + execute
 *   landlock      PATH RIGHTS              RIGHTS: comma list of src/sandbox/fs-plan.ts's
 *                                            FsRight names: read (READ_FILE), read_dir
 *                                            (READ_DIR), write (WRITE_FILE, IOCTL_DEV),
 *                                            create (MAKE_REG/DIR/SOCK/FIFO/SYM; never
 *                                            MAKE_CHAR/BLOCK), remove (REMOVE_FILE/DIR),
 *                                            exec (EXECUTE), truncate (TRUNCATE), refer
 *                                            (REFER); an unknown one fails the plan
 *   landlock_tcp connect|bind [PORTS]      Landlock ABI >= 4 (else `fail landlock_tcp abi
 *                                            EOPNOTSUPP`): that TCP access is denied except
 *                                            to the comma list PORTS (empty: to none), any
 *                                            address; UDP is not governed by Landlock
 *   landlock_scope signal,abstract_unix    Landlock ABI >= 6 scoping
 *                Landlock rights apply to the path's hierarchy (files and dirs below it);
 *                on a file only the file rights (read, write, exec, truncate) remain, and
 *                rights the kernel's ABI lacks are dropped (nothing left: skip ENOMSG).
 *                A grant path is opened without following any symlink (openat2
 *                RESOLVE_NO_SYMLINKS, O_PATH|O_NOFOLLOW): a rule binds to the inode reached,
 *                so a link would grant its target; a path that is or goes through a
 *                symlink is reported `skip KEY PATH ELOOP` and granted nothing. A path that
 *                does not exist is reported (`skip`) and skipped. Everything
 *                not granted is denied once any landlock_* directive is present: a
 *                "deny exec" is expressed by not granting landlock_exec there, a "deny
 *                read" by granting nothing. Landlock does not check mmap(PROT_EXEC): a
 *                readable file can still be mapped by the dynamic loader unless it lies on
 *                a noexec mount (bind ... noexec / tmpfs ... noexec) or is not readable.
 *   gid N, uid N                           setgroups([]), setgid, setuid (with a user
 *                                            namespace only the mapped id exists: 0, or
 *                                            the caller's own with user_map identity)
 *   drop_caps                              bounding set, ambient, effective, permitted,
 *                                            inheritable all cleared
 *   no_new_privs
 *   seccomp      deny-list                 EPERM: ptrace, process_vm_readv/writev, mount,
 *                                            umount2, pivot_root, chroot, move_mount,
 *                                            open_tree, fsopen, fsmount, fsconfig, fspick,
 *                                            mount_setattr, unshare, setns, bpf, keyctl,
 *                                            add_key, request_key, io_uring_*, perf_event_open,
 *                                            kexec_*, init/finit/delete_module, reboot,
 *                                            swapon/off, userfaultfd, open_by_handle_at, and
 *                                            clone with any CLONE_NEW* flag; ENOSYS for
 *                                            clone3 (flags unreadable by BPF; libc falls back
 *                                            to clone); KILL for any arch but x86_64 (i386
 *                                            int 0x80) and for x32 numbers (>= 0x40000000).
 *                                            Other arches: the directive fails (closed).
 *   pdeathsig                              SIGKILL when the parent dies (each stage)
 *   keep_fd      N                         inherited descriptor N stays open in the command;
 *                                            every other descriptor >= 3 is closed on exec
 *   memfd_noexec                           vm.memfd_noexec=2 in the new pid namespace
 *                                            (needs unshare pid): memfds are created
 *                                            sealed non-executable, MFD_EXEC is refused.
 *                                            Landlock does not govern memfds, so without
 *                                            this a program can exec any bytes it writes.
 *   notify       exec,signal,delete        seccomp user-notify: those syscalls wait for
 *                                            the server's verdict (NOTIFY below); needs
 *                                            unshare pid and a socket report descriptor
 *   notify_ask   NAME,NAME,...             the execs the server decides (lower-case
 *                                            basenames, absolute paths; ".real" stripped);
 *                                            others are answered CONTINUE at once and
 *                                            reported as `notice ID exec ...` (same words
 *                                            as a request, no verdict expected). Absent:
 *                                            every exec is asked
 *   notify_via   seccomp|ptrace            how notified calls reach the supervisor
 *                                            (default seccomp). ptrace: the filter returns
 *                                            SECCOMP_RET_TRACE instead of USER_NOTIF; the
 *                                            command says `ptrace-ready` on the supervisor
 *                                            socketpair (SO_PASSCRED: its pid) and waits
 *                                            until it is seized (native/tracer.c: every
 *                                            fork/vfork/clone followed, EXITKILL); requests
 *                                            and verdicts are the same lines (IDs are the
 *                                            supervisor's counter); reported `ok notify_via
 *                                            ptrace`; needs `notify`
 *
 * ORDER (fixed, whatever the order of lines; mount steps keep their plan order):
 *   1 pdeathsig  2 unshare user and pid (the outer launcher), then user_map (uid_map/gid_map)
 *   The outer launcher also unshares net (then net_lo and the relays' listeners), so the
 *     supervisor can serve them; the command inherits that namespace.
 *   3 fork (pid namespace: the child becomes pid 1, a tiny init); then, in pid 1 (or in the
 *     launcher itself without a pid namespace), unshare of every other namespace:
 *     the outer launcher stays in the caller's mount namespace (its supervisor resolves trash
 *     paths there, and pivot_root below must not move its root)
 *   4 memfd_noexec (in pid 1), then the mounts (only when the plan has any; they need
 *     `unshare mount`): / made MS_REC|MS_PRIVATE (nothing propagates to the host); every
 *     bind source cloned detached (open_tree) and every overlay created detached (fsopen,
 *     its layers looked up) while the host tree is still visible; a tmpfs staged over /tmp
 *     receives the binds, overlays, symlinks, tmpfs and proc at their paths IN PLAN ORDER
 *     (a parent must come before what is mounted below it; serializePlan sorts by depth);
 *     a bind source that is a symlink (merged /usr: /bin -> usr/bin) is recreated as the
 *     same symlink; pivot_root into the staged tree; the new / itself is read-only and
 *     holds nothing but what the plan put there
 *   5 hostname  6 fork the command (pid namespace only)  7 chdir  8 rlimits, then the
 *     cgroup joins (before Landlock and before any privilege is dropped)
 *   9 Landlock  10 capability bounding set  11 gid/uid  12 capabilities cleared
 *   13 no_new_privs (already set at 9 when the plan has it: restrict_self needs it once
 *      capabilities are gone)  14 descriptors >= 3 marked close-on-exec except keep_fd ones
 *   15 seccomp: the deny-list and notify in one filter (last, just before exec; with
 *      notify the listener is handed to the outer launcher first)  16 exec
 *   Mounts precede Landlock (Landlock forbids later mount changes and needs final paths);
 *   seccomp is last because it forbids mount/unshare and could deny the launcher's own
 *   calls.
 *
 * UNPRIVILEGED (a caller without capabilities, where unprivileged user namespaces are
 * allowed): with `unshare user,...` (the other namespaces are then owned by the new user
 * namespace, in which the launcher holds every capability until exec) all directives work
 * except: memfd_noexec (the sysctl is not writable from a user namespace: EACCES), rlimits
 * above the caller's hard limits (EPERM), uid/gid other than the mapped id (EINVAL).
 * Sources and overlay layers must be searchable/readable by the caller; their host owners
 * show inside as themselves only when mapped (else as the overflow id, 65534). Every mount
 * is nodev whatever the plan says (the kernel's rule for user namespaces). proc works
 * because pid 1 of the new pid namespace mounts it; the kernel also requires a fully
 * visible /proc in the caller's mount namespace (no masked /proc paths). With user_map
 * identity the command runs as the caller's own uid with no capabilities at all.
 *
 * PROCESSES: with a pid namespace the launcher forks; its child is pid 1 of the namespace
 * and forks the command (pid 2). pid 1 reaps every zombie, forwards SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT to the command (the outer launcher
 * forwards the same to pid 1) and exits when the command exits; the kernel then kills the
 * rest of the namespace. Without a pid namespace the launcher execs the command itself.
 * Exit status: the command's exit code; 128+N when it was killed by signal N; 126 when
 * a mandatory step failed (nothing was exec'd); 127 when PROGRAM could not be exec'd
 * because it was not found (126 for other exec errors).
 *
 * REPORT (fd M, optional; one fact per line, space-separated words, each escaped as in the
 * plan plus " " as \x20; M is close-on-exec, so EOF means every launcher process ended):
 *   ok KEY [VALUE]          a directive applied
 *   skip KEY VALUE ERRNO    an optional step not applied (missing landlock path ...)
 *   fail KEY VALUE ERRNO    a mandatory step failed: exit 126, nothing exec'd
 *   landlock abi N
 *   init PID                pid (in the caller's namespace) of the namespace's pid 1
 *   exec PID                about to exec (PID as seen inside the sandbox)
 *   exit CODE | signal N    the command's end (pid namespace only: written by pid 1; without
 *                           one the launcher became the command, its status is the answer)
 *   notify ..., notify-refused ID REASON, notify-error ..., trashed ID,
 *   trash-failed ID ERRNONAME    plan `notify` only: see NOTIFY below
 *
 * NOTIFY (plan `notify GROUPS`: seccomp user-notify; the launcher carries, the server decides)
 *   GROUPS, comma list: exec (execve, execveat), signal (kill, tkill, tgkill,
 *   rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal), delete (unlink, unlinkat,
 *   rmdir, rename, renameat, renameat2). Needs `unshare pid` and a report descriptor that
 *   is a socket (verdicts come back on it; Node's extra stdio 'pipe' entries are unix
 *   socketpairs), else `fail notify needs-pid-namespace|needs-report-fd EINVAL` /
 *   `fail notify report-fd-not-a-socket ENOTSOCK`. The notified syscalls are in the SAME
 *   BPF program as the deny-list (arch/x32 checks first, and they apply with notify
 *   alone too: an i386 execve would otherwise bypass it; then the deny-list if planned;
 *   then USER_NOTIF; else ALLOW), installed at step 15 with SECCOMP_FILTER_FLAG_NEW_LISTENER
 *   (and WAIT_KILLABLE_RECV when the kernel has it: once a request is read, only a fatal
 *   signal interrupts the caller, so a call is never asked twice). The command's own first
 *   execve is notified. clone3 still returns ENOSYS only when the deny-list is planned.
 *   Reported as `ok notify exec,signal,delete` (canonical order).
 *   Processes: the outer launcher creates a SOCK_SEQPACKET socketpair before forking pid 1;
 *   the command process sends the listener over it (SCM_RIGHTS) right after installing
 *   the filter, closes it, then execs. The outer launcher (outside the filter and the pid
 *   namespace) is the supervisor: poll() on the listener, the report socket and a SIGCHLD
 *   self-pipe (signals are still forwarded to pid 1). pid 1 sends its `exit`/`signal` line
 *   over the pair and the supervisor writes it, so the report has one writer once the
 *   command runs and lines never interleave. The supervisor stays in the caller's mount
 *   and pid namespaces (see do_unshare): its /proc and its paths are the server's; readlink
 *   of /proc/PID/cwd and /proc/PID/fd/N of a sandboxed process gives the path as the
 *   sandbox sees it (relative to the sandbox's root).
 *   One request at a time: for each notification the supervisor reads the arguments from
 *   the caller's memory (process_vm_readv, page by page), checks
 *   SECCOMP_IOCTL_NOTIF_ID_VALID, writes one request line on the report descriptor and
 *   waits for that id's verdict line before receiving the next notification.
 *   Requests (words escaped as report values; a word may be empty, e.g. no ancestors):
 *     notify ID exec PID ANCESTORS PATH CWD ARG0 ARG1 ...
 *     notify ID signal PID SYSCALL TARGET SIG
 *     notify ID unlink PID PATH          unlink, unlinkat without AT_REMOVEDIR
 *     notify ID rmdir PID PATH           rmdir, unlinkat with AT_REMOVEDIR
 *     notify ID rename PID SRC DST FLAGS FLAGS: renameat2's (numeric), else 0
 *   ID: the kernel's 64-bit notification id (decimal). PID: the calling thread in the
 *   server's pid namespace (= the process id unless a non-main thread calls).
 *   ANCESTORS: comma list of the caller's ancestors, parent first, up to but excluding
 *   the namespace's pid 1 (PIDFD_GET_INFO, else /proc/P/stat), server pids too. PATH,
 *   SRC, DST (as the command sees them): the argument made
 *   absolute, relative to CWD, or for *at calls to what /proc/PID/fd/DIRFD links to
 *   (execveat AT_EMPTY_PATH with "": the link itself; a dirfd that is no path: refused),
 *   joined, not normalised ("..", symlinks stay). CWD: readlink /proc/PID/cwd. ARGn: the
 *   argv strings (pointers read until NULL; a NULL argv is empty). SYSCALL: kill, tkill,
 *   tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal. TARGET: as passed (a
 *   pid of the caller's namespace; tgkill/rt_tgsigqueueinfo: the tid); pidfd_send_signal:
 *   the pidfd's process in the caller's namespace from /proc/PID/fdinfo/FD (NSpid), 0 if
 *   not visible there, -1 if gone or not a pidfd. SIG: the signal number (0: probe).
 *   Refused without asking (`notify-refused ID REASON` written, the call fails): a path
 *   of PATH_MAX bytes or more (path-too-long, EPERM), argv of more than 256 KiB in all
 *   (argv-too-large, EPERM), memory that cannot be read (unreadable-memory, EFAULT), an
 *   unusable dirfd or cwd (bad-dirfd / no-cwd, EPERM). A notification whose id is no
 *   longer valid after the reads (the caller died) is dropped without a line.
 *   Verdicts (one line each from the server, same escaping):
 *     verdict ID continue                 SECCOMP_USER_NOTIF_FLAG_CONTINUE: the call runs
 *     verdict ID errno N                  fails with N (1..4095)
 *     verdict ID value V                  returns V (signed 64-bit) without running
 *     verdict ID trash SRC DIR NAME THEN  soft delete (delete requests only): SRC's parent
 *                                         and DIR opened with openat2(AT_FDCWD, ...,
 *                                         O_PATH|O_DIRECTORY, RESOLVE_NO_SYMLINKS|
 *                                         RESOLVE_NO_MAGICLINKS), then renameat2(parent,
 *                                         basename(SRC), dir, NAME, RENAME_NOREPLACE);
 *                                         SRC's parent must first be the sandbox's SRC
 *                                         parent too (below).
 *                                         THEN: value0 (answer 0: unlink/rmdir done from
 *                                         the caller's view) or continue (the call runs:
 *                                         a rename whose destination was just moved away).
 *                                         Success: `trashed ID`. Failure: `trash-failed ID
 *                                         ERRNONAME`, nothing moved, the call fails EPERM,
 *                                         or with the kernel's own answer where the move
 *                                         would change the call's meaning: EISDIR (unlink
 *                                         of a directory), ENOTDIR (rmdir of a non-dir),
 *                                         ENOTEMPTY (rmdir, or a rename over, a non-empty
 *                                         directory).
 *   The trash verdict resolves SRC and DIR in the supervisor's mount namespace (the
 *   caller's, i.e. the server's): DIR need not be visible in the sandbox (the server hides
 *   it) but must be on the same mount as SRC there (rename(2) cannot cross mounts: EXDEV).
 *   SRC is what the command named, in the sandbox's view; it is moved only if its parent,
 *   opened in the sandbox's view too (openat2 on /proc/PID/root of the stopped caller,
 *   RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS), is the same directory
 *   (st_dev, st_ino) as in the server's view (true for the workspace, bound at its real
 *   path; else trash-failed EXDEV: e.g. the sandbox's own /tmp, where the same name is
 *   another file on the host) and that mount is writable in the sandbox (else EROFS: a
 *   read-only bind stays read-only). The move is made with the launcher's privileges
 *   (root: no Landlock, no DAC limit): the server must answer `trash` only for paths its
 *   policy lets the command delete.
 *   A verdict for an id that is not pending is ignored (`notify-error unknown-id ID`); a
 *   line that is not a verdict (`notify-error malformed LINE`) too, except that a bad
 *   verdict for the pending id answers EPERM (never left hanging); an over-long line
 *   gives `notify-error line-too-long`. EOF or an error on the report descriptor (the
 *   server is gone): pid 1 is SIGKILLed at once and the pending call is NOT answered (an
 *   answer, even EPERM, would let its caller run on until the teardown reaches it): it
 *   dies stopped, with the namespace; later notifications are not answered either.
 *   TOCTOU: a CONTINUE verdict is decided on arguments read before the call runs; another
 *   thread of the caller (or a process sharing its memory) can rewrite the path or argv
 *   in between, and the kernel then acts on the new values. Hard denies must therefore
 *   also be enforced by the kernel (Landlock grants, the deny-list, mounts); user-notify
 *   is for what they cannot express: argv-level rules, depth, audit, soft delete. errno,
 *   value and trash verdicts do not have this problem (the call does not run, or the
 *   supervisor acts on the paths it was given, without following symlinks).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "relay.h"
#include "tracer.h"

extern char **environ;

#define EXIT_FAIL 126
#define MAX_PLAN (1u << 20)

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* ------------------------------------------------------------------ report */

static int report_fd = -1;

static void put_escaped(char *buf, size_t *n, size_t cap, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (; *s && *n + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\') { buf[(*n)++] = '\\'; buf[(*n)++] = '\\'; }
        else if (c == '\t') { buf[(*n)++] = '\\'; buf[(*n)++] = 't'; }
        else if (c == '\n') { buf[(*n)++] = '\\'; buf[(*n)++] = 'n'; }
        else if (c < 0x20 || c == 0x7f || c == ' ') {
            buf[(*n)++] = '\\'; buf[(*n)++] = 'x';
            buf[(*n)++] = hex[c >> 4]; buf[(*n)++] = hex[c & 15];
        } else buf[(*n)++] = (char)c;
    }
}

/* One line: WORD [KEY [VALUE(escaped) [ERR]]]. */
static void report(const char *word, const char *key, const char *value, const char *err) {
    char line[8192];
    size_t n = 0;
    if (report_fd < 0) return;
    put_escaped(line, &n, sizeof line, word);
    if (key) { line[n++] = ' '; put_escaped(line, &n, sizeof line, key); }
    if (value) { line[n++] = ' '; put_escaped(line, &n, sizeof line, value); }
    if (err) { line[n++] = ' '; put_escaped(line, &n, sizeof line, err); }
    line[n++] = '\n';
    for (size_t off = 0; off < n;) {
        ssize_t w = write(report_fd, line + off, n - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else break;
    }
}

static const char *errname(int e) {
    const char *s = strerrorname_np(e);
    return s ? s : "EUNKNOWN";
}

/* WORD [KEY] NUMBER */
static void reportn(const char *word, const char *key, long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    if (key) report(word, key, buf, NULL);
    else report(word, buf, NULL, NULL);
}

/* A mandatory step failed: say so and exit without exec'ing anything. */
static _Noreturn void fail(const char *key, const char *value, int err) {
    report("fail", key, value ? value : "-", errname(err));
    _exit(EXIT_FAIL);
}

static void skip(const char *key, const char *value, int err) { report("skip", key, value, errname(err)); }

static void usage_fail(const char *msg) {
    const char *p = "agentsh-launcher: ";
    if (write(2, p, strlen(p)) < 0 || write(2, msg, strlen(msg)) < 0 || write(2, "\n", 1) < 0) { /* nothing */ }
    _exit(EXIT_FAIL);
}

/* -------------------------------------------------------------------- plan */

static void notify_parse(const char *val); /* the notify section */
static void notify_ask_parse(const char *val);
static void notify_via_parse(const char *val);

/* Mount steps come before K_LL_RO (IS_MOUNT), Landlock grants from it on. */
enum kind { K_BIND_RO, K_BIND_RW, K_TMPFS, K_PROC, K_OVERLAY, K_SYMLINK, K_LL_RO, K_LL_RW, K_LL_EXEC, K_LL };
#define IS_MOUNT(k) ((k) < K_LL_RO)

/* src: a bind's source when it differs from path, an overlay's layers; access: K_LL rights */
struct step { enum kind kind; char *path; char *opts; int fd; int is_dir; char *link; char *src; uint64_t access; };

static struct {
    int ns_flags;
    char *ns_text;
    char *hostname;
    struct step *steps; /* grown as needed: a compiled fs-plan can hold thousands of grants */
    int cap_steps;
    int nsteps;
    char *chdir;
    struct { int res; rlim_t soft, hard; char *text; } rl[16];
    int nrl;
    int has_landlock;
    char *ll_scope;
    long uid, gid; /* -1: unchanged */
    int drop_caps, nnp, seccomp, pdeathsig, memfd_noexec;
    int user_identity, net_lo;
    int keep_fds[32];
    int nkeep;
} plan = { .uid = -1, .gid = -1 };

/* Decodes the plan escapes in place. Returns 0 on a malformed escape. */
static int unescape(char *s) {
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '\\') { *o++ = *p; continue; }
        p++;
        if (*p == '\\') *o++ = '\\';
        else if (*p == 't') *o++ = '\t';
        else if (*p == 'n') *o++ = '\n';
        else if (*p == 'x') {
            int v = 0;
            for (int i = 0; i < 2; i++) {
                char c = *++p;
                if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
                else if (c >= 'a' && c <= 'f') v = v * 16 + (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F') v = v * 16 + (c - 'A' + 10);
                else return 0;
            }
            if (v == 0) return 0;
            *o++ = (char)v;
        } else return 0;
    }
    *o = 0;
    return 1;
}

static int parse_num(const char *s, long max, long *out) {
    long v = 0;
    if (!s || !*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (*s - '0');
        if (v > max) return 0;
    }
    *out = v;
    return 1;
}

static int parse_rlim(const char *s, rlim_t *out) {
    long v;
    if (strcmp(s, "unlimited") == 0) { *out = RLIM_INFINITY; return 1; }
    if (!parse_num(s, LONG_MAX / 10, &v)) return 0;
    *out = (rlim_t)v;
    return 1;
}

/* Is `word` in the comma list `list`? */
static int has_opt(const char *list, const char *word) {
    size_t wl = strlen(word);
    if (!list) return 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && memcmp(p, word, l) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static struct step *add_step(enum kind k, char *path, char *opts) {
    if (plan.nsteps == plan.cap_steps) { /* bounded by MAX_PLAN */
        plan.cap_steps = plan.cap_steps ? plan.cap_steps * 2 : 64;
        plan.steps = realloc(plan.steps, (size_t)plan.cap_steps * sizeof *plan.steps);
        if (!plan.steps) fail("plan", "-", ENOMEM);
    }
    if (k != K_PROC && (!path || path[0] != '/')) fail("plan", path ? path : "-", EINVAL);
    plan.steps[plan.nsteps] = (struct step){ .kind = k, .path = path, .opts = opts, .fd = -1 };
    if (k >= K_LL_RO) plan.has_landlock = 1;
    return &plan.steps[plan.nsteps++];
}

/* overlay DST OPTS LAYERS. Layers are handed to the kernel one by one ("lowerdir+"), but
 * ':', ',' and '\\' are overlayfs's own separators and escape in its classic option string:
 * refused so that no layer can ever be read as two. overlayfs without an upper layer
 * needs at least two lower ones. */
static void add_overlay(char *dst, char *opts, char *layers) {
    struct step *s = add_step(K_OVERLAY, dst, opts);
    int n = 0;
    if (opts && *opts && strcmp(opts, "noexec")) fail("overlay", opts, EINVAL);
    if (!layers || strpbrk(layers, ",\\")) fail("overlay", layers ? layers : dst, EINVAL);
    for (const char *p = layers; p; n++) {
        if (*p != '/') fail("overlay", layers, EINVAL); /* relative or empty layer */
        p = strchr(p, ':');
        if (p) p++;
    }
    if (n < 2) fail("overlay", layers, EINVAL);
    s->src = layers;
    s->is_dir = 1;
}

static uint64_t parse_rights(const char *path, const char *list); /* with the Landlock constants below */
static void ll_tcp_parse(const char *what, const char *list);

/* cgroup PATH: the cgroup.procs file is opened now, while the host tree is visible (after
 * pivot_root /sys/fs/cgroup is normally not in the sandbox); the command writes to it at 8. */
#define MAX_CGROUPS 8
static struct { char *path; int fd; } cgroups[MAX_CGROUPS];
static int ncgroups;

static void add_cgroup(char *path) {
    if (!path || path[0] != '/') fail("cgroup", path ? path : "-", EINVAL);
    if (ncgroups >= MAX_CGROUPS) fail("cgroup", path, E2BIG);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("cgroup", path, errno);
    cgroups[ncgroups].path = path;
    cgroups[ncgroups++].fd = fd;
}

static void parse_line(char *line) {
    char *key = line, *val = NULL, *opts = NULL, *src = NULL;
    char *t = strchr(line, '\t');
    if (t) { *t = 0; val = t + 1; t = strchr(val, '\t'); if (t) { *t = 0; opts = t + 1; } }
    if (opts && (t = strchr(opts, '\t'))) { *t = 0; src = t + 1; }
    if ((val && !unescape(val)) || (opts && !unescape(opts)) || (src && !unescape(src))) fail("plan", key, EINVAL);
#define IS(k) (strcmp(key, k) == 0)
    /* a 4th field only where one is defined (a bind's source, an overlay's layers) */
    if (src && !IS("bind_ro") && !IS("bind_rw") && !IS("overlay") && !IS("relay")) fail("plan", key, EINVAL);
    if (IS("unshare")) {
        if (!val) fail("plan", key, EINVAL);
        plan.ns_text = val;
        char *dup = strdup(val);
        for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
            if (!strcmp(tok, "mount")) plan.ns_flags |= CLONE_NEWNS;
            else if (!strcmp(tok, "pid")) plan.ns_flags |= CLONE_NEWPID;
            else if (!strcmp(tok, "ipc")) plan.ns_flags |= CLONE_NEWIPC;
            else if (!strcmp(tok, "uts")) plan.ns_flags |= CLONE_NEWUTS;
            else if (!strcmp(tok, "net")) plan.ns_flags |= CLONE_NEWNET;
            else if (!strcmp(tok, "user")) plan.ns_flags |= CLONE_NEWUSER;
            else if (!strcmp(tok, "cgroup")) plan.ns_flags |= CLONE_NEWCGROUP;
            else fail("unshare", tok, EINVAL);
        }
    } else if (IS("hostname") && val) plan.hostname = val;
    else if (IS("bind_ro") || IS("bind_rw")) {
        struct step *s = add_step(IS("bind_ro") ? K_BIND_RO : K_BIND_RW, val, opts);
        if (src && src[0] != '/') fail(key, src, EINVAL);
        if (src && strcmp(src, val)) s->src = src;
    }
    else if (IS("overlay")) add_overlay(val, opts, src);
    else if (IS("symlink") && opts && *opts) add_step(K_SYMLINK, val, NULL)->link = opts;
    else if (IS("tmpfs")) add_step(K_TMPFS, val, opts);
    else if (IS("proc")) add_step(K_PROC, NULL, val);
    else if (IS("landlock_ro")) add_step(K_LL_RO, val, opts);
    else if (IS("landlock_rw")) add_step(K_LL_RW, val, opts);
    else if (IS("landlock_exec")) add_step(K_LL_EXEC, val, opts);
    else if (IS("landlock")) add_step(K_LL, val, NULL)->access = parse_rights(val, opts);
    else if (IS("landlock_scope") && val) { plan.ll_scope = val; plan.has_landlock = 1; }
    else if (IS("landlock_tcp")) ll_tcp_parse(val, opts);
    else if (IS("chdir") && val && val[0] == '/') plan.chdir = val;
    else if (IS("uid") && parse_num(val, 0x7fffffff, &plan.uid)) {}
    else if (IS("gid") && parse_num(val, 0x7fffffff, &plan.gid)) {}
    else if (IS("drop_caps") && !val) plan.drop_caps = 1;
    else if (IS("no_new_privs") && !val) plan.nnp = 1;
    else if (IS("pdeathsig") && !val) plan.pdeathsig = 1;
    else if (IS("memfd_noexec") && !val) plan.memfd_noexec = 1;
    else if (IS("net_lo") && !val) plan.net_lo = 1;
    else if (IS("user_map") && val && !strcmp(val, "root")) plan.user_identity = 0;
    else if (IS("user_map") && val && !strcmp(val, "identity")) plan.user_identity = 1;
    else if (IS("keep_fd") && plan.nkeep < 32) {
        long fd;
        if (!parse_num(val, INT_MAX, &fd) || fd < 3) fail("keep_fd", val ? val : "-", EINVAL);
        plan.keep_fds[plan.nkeep++] = (int)fd;
    }
    else if (IS("seccomp") && val && !strcmp(val, "deny-list")) plan.seccomp = 1;
    else if (IS("notify") && val) notify_parse(val); /* the notify section */
    else if (IS("notify_ask") && val) notify_ask_parse(val);
    else if (IS("notify_via") && val) notify_via_parse(val);
    else if (IS("cgroup")) add_cgroup(val);
    else if (IS("relay")) {
        int e = relay_add(val, opts, src);
        if (e) fail("relay", val ? val : "-", e);
    }
    else if (IS("rlimit") && val && plan.nrl < 16) {
        static const struct { const char *n; int r; } names[] = {
            {"AS", RLIMIT_AS}, {"CORE", RLIMIT_CORE}, {"CPU", RLIMIT_CPU}, {"DATA", RLIMIT_DATA},
            {"FSIZE", RLIMIT_FSIZE}, {"MEMLOCK", RLIMIT_MEMLOCK}, {"NOFILE", RLIMIT_NOFILE},
            {"NPROC", RLIMIT_NPROC}, {"STACK", RLIMIT_STACK}};
        char *text = strdup(val), *sp1 = strchr(val, ' '), *sp2;
        if (!sp1) fail("rlimit", text, EINVAL);
        *sp1++ = 0;
        sp2 = strchr(sp1, ' ');
        if (sp2) *sp2++ = 0;
        int res = -1;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(names[i].n, val)) res = names[i].r;
        rlim_t soft, hard;
        if (res < 0 || !parse_rlim(sp1, &soft) || !parse_rlim(sp2 ? sp2 : sp1, &hard) || soft > hard)
            fail("rlimit", text, EINVAL);
        plan.rl[plan.nrl].res = res; plan.rl[plan.nrl].soft = soft; plan.rl[plan.nrl].hard = hard;
        plan.rl[plan.nrl++].text = text;
    } else fail("plan", key, EINVAL);
#undef IS
}

static void read_plan(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= MAX_PLAN) fail("plan", "too-large", E2BIG);
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) fail("plan", "-", ENOMEM);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("plan", "read", errno);
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (memchr(buf, 0, n)) fail("plan", "nul-byte", EINVAL);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line && *line != '#') parse_line(line);
        line = nl ? nl + 1 : NULL;
    }
}

/* ------------------------------------------------------------------ mounts */

#define STAGE "/tmp"

/* Creates every missing directory of STAGE+path (and the last component as a directory or
 * an empty file) without following symlinks; returns an O_PATH fd of the last component. */
static int make_mountpoint(const char *path, int as_dir) {
    char *copy = strdup(path);
    int dfd = open(STAGE, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) { free(copy); return -1; }
    char *save = NULL;
    char *tok = strtok_r(copy, "/", &save);
    if (!tok) { free(copy); return dfd; } /* the root itself */
    while (tok) {
        char *next = strtok_r(NULL, "/", &save);
        int last = next == NULL;
        if (!strcmp(tok, "..") || !strcmp(tok, ".")) { close(dfd); free(copy); errno = EINVAL; return -1; }
        if (!last || as_dir) {
            if (mkdirat(dfd, tok, 0755) < 0 && errno != EEXIST) { close(dfd); free(copy); return -1; }
        } else {
            /* O_EXCL: an existing file is used as it is (opening it for writing would fail
             * with EROFS when it lies in a read-only bind or overlay: /etc/passwd) */
            int f = openat(dfd, tok, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (f < 0 && errno != EEXIST) { close(dfd); free(copy); return -1; }
            if (f >= 0) close(f);
        }
        int nfd = openat(dfd, tok, O_PATH | O_NOFOLLOW | O_CLOEXEC | (last && !as_dir ? 0 : O_DIRECTORY));
        close(dfd);
        if (nfd < 0) { free(copy); return -1; }
        dfd = nfd;
        tok = next;
    }
    free(copy);
    return dfd;
}

static const char *kind_name(enum kind k) {
    static const char *n[] = {"bind_ro", "bind_rw", "tmpfs", "proc", "overlay", "symlink",
                              "landlock_ro", "landlock_rw", "landlock_exec", "landlock"};
    return n[k];
}

/* A read-only overlayfs of the host directories s->src (':'-separated, topmost first) as a
 * detached mount. The layers are looked up now, while the host tree is visible (the
 * staged tmpfs hides /tmp); overlayfs keeps private clones of them. */
static int make_overlay(const struct step *s) {
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0) fail("overlay", s->path, errno);
    char *layers = strdup(s->src), *save = NULL;
    for (char *l = strtok_r(layers, ":", &save); l; l = strtok_r(NULL, ":", &save))
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l, 0) < 0) fail("overlay", l, errno);
    free(layers);
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) fail("overlay", s->path, errno);
    unsigned attr = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (has_opt(s->opts, "noexec")) attr |= MOUNT_ATTR_NOEXEC;
    int fd = fsmount(fs, FSMOUNT_CLOEXEC, attr);
    if (fd < 0) fail("overlay", s->path, errno);
    close(fs);
    return fd;
}

static void setup_mounts(void) {
    int any = 0;
    for (int i = 0; i < plan.nsteps; i++) if (IS_MOUNT(plan.steps[i].kind)) any = 1;
    if (!any) return;
    if (!(plan.ns_flags & CLONE_NEWNS)) fail("mount", "needs-mount-namespace", EINVAL);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("mount", "private", errno);

    /* Sources are cloned while the host tree is still visible (STAGE hides /tmp later). */
    for (int i = 0; i < plan.nsteps; i++) {
        struct step *s = &plan.steps[i];
        if (s->kind == K_OVERLAY) s->fd = make_overlay(s);
        if (s->kind != K_BIND_RO && s->kind != K_BIND_RW) continue;
        const char *src = s->src ? s->src : s->path; /* errors about the source name it */
        struct stat st;
        if (lstat(src, &st) < 0) {
            if (has_opt(s->opts, "optional")) { skip(kind_name(s->kind), src, errno); s->fd = -2; continue; }
            fail(kind_name(s->kind), src, errno);
        }
        if (S_ISLNK(st.st_mode)) { /* merged /usr: /bin -> usr/bin is recreated as a link */
            /* ... but only at its own path: elsewhere a relative target would name another file */
            if (s->src) fail(kind_name(s->kind), src, ELOOP);
            char target[PATH_MAX];
            ssize_t l = readlink(s->path, target, sizeof target - 1);
            if (l < 0) fail(kind_name(s->kind), s->path, errno);
            target[l] = 0;
            s->link = strdup(target);
            continue;
        }
        s->is_dir = S_ISDIR(st.st_mode);
        s->fd = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
        if (s->fd < 0) fail(kind_name(s->kind), src, errno);
        /* nodev, except when the source is itself a device node (binding /dev/null is the grant) */
        int dev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | (dev ? 0 : MOUNT_ATTR_NODEV), .propagation = MS_PRIVATE };
        if (s->kind == K_BIND_RO) attr.attr_set |= MOUNT_ATTR_RDONLY;
        if (has_opt(s->opts, "noexec")) attr.attr_set |= MOUNT_ATTR_NOEXEC;
        if (mount_setattr(s->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
            fail(kind_name(s->kind), s->path, errno);
    }

    if (mount("agentsh-root", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) fail("mount", "root", errno);
    for (int i = 0; i < plan.nsteps; i++) {
        struct step *s = &plan.steps[i];
        if (!IS_MOUNT(s->kind) || s->fd == -2) continue;
        const char *kn = kind_name(s->kind);
        if (s->link) {
            char *dup = strdup(s->path), *slash = strrchr(dup, '/');
            *slash = 0;
            int pfd = make_mountpoint(dup, 1);
            if (pfd < 0 || symlinkat(s->link, pfd, slash + 1) < 0) fail(kn, s->path, errno);
            close(pfd);
            free(dup);
            report("ok", kn, s->path, NULL);
            continue;
        }
        if (s->kind == K_BIND_RO || s->kind == K_BIND_RW || s->kind == K_OVERLAY) {
            int mp = make_mountpoint(s->path, s->is_dir);
            if (mp < 0) fail(kn, s->path, errno);
            if (move_mount(s->fd, "", mp, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail(kn, s->path, errno);
            close(mp);
            close(s->fd);
            report("ok", kn, s->path, NULL);
        } else if (s->kind == K_TMPFS) {
            char data[512] = "", *o = s->opts ? strdup(s->opts) : NULL;
            unsigned long fl = MS_NOSUID | MS_NODEV;
            int has_mode = 0;
            for (char *tok = o ? strtok(o, ",") : NULL; tok; tok = strtok(NULL, ",")) {
                if (!strcmp(tok, "noexec")) fl |= MS_NOEXEC;
                else if (!strcmp(tok, "ro")) fl |= MS_RDONLY;
                else if (!strncmp(tok, "mode=", 5) || !strncmp(tok, "size=", 5) || !strncmp(tok, "nr_inodes=", 10)) {
                    size_t l = strlen(data);
                    if (l + strlen(tok) + 2 > sizeof data) fail(kn, tok, E2BIG);
                    snprintf(data + l, sizeof data - l, "%s%s", l ? "," : "", tok);
                    has_mode |= !strncmp(tok, "mode=", 5);
                } else fail(kn, tok, EINVAL);
            }
            free(o);
            if (!has_mode) { size_t l = strlen(data); snprintf(data + l, sizeof data - l, "%smode=0755", l ? "," : ""); }
            int mp = make_mountpoint(s->path, 1);
            char at[64];
            if (mp < 0) fail(kn, s->path, errno);
            snprintf(at, sizeof at, "/proc/self/fd/%d", mp);
            if (mount("tmpfs", at, "tmpfs", fl, data) < 0) fail(kn, s->path, errno);
            close(mp);
            report("ok", kn, s->path, NULL);
        } else { /* K_PROC */
            int mp = make_mountpoint("/proc", 1);
            char at[64];
            if (mp < 0) fail("proc", "/proc", errno);
            snprintf(at, sizeof at, "/proc/self/fd/%d", mp);
            if (mount("proc", at, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, s->opts) < 0) fail("proc", s->opts ? s->opts : "/proc", errno);
            close(mp);
            report("ok", "proc", s->opts ? s->opts : "/proc", NULL);
        }
    }
    if (chdir(STAGE) < 0) fail("pivot_root", STAGE, errno);
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot_root", STAGE, errno);
    if (umount2(".", MNT_DETACH) < 0) fail("pivot_root", "umount-old", errno);
    if (chdir("/") < 0) fail("pivot_root", "/", errno);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) fail("pivot_root", "ro", errno);
    report("ok", "pivot_root", NULL, NULL);
}

/* ---------------------------------------------------------------- landlock */

#define LL_EXECUTE (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE (1ULL << 2)
#define LL_READ_DIR (1ULL << 3)
#define LL_REMOVE_DIR (1ULL << 4)
#define LL_REMOVE_FILE (1ULL << 5)
#define LL_MAKE_CHAR (1ULL << 6)
#define LL_MAKE_DIR (1ULL << 7)
#define LL_MAKE_REG (1ULL << 8)
#define LL_MAKE_SOCK (1ULL << 9)
#define LL_MAKE_FIFO (1ULL << 10)
#define LL_MAKE_BLOCK (1ULL << 11)
#define LL_MAKE_SYM (1ULL << 12)
#define LL_REFER (1ULL << 13)
#define LL_TRUNCATE (1ULL << 14)
#define LL_IOCTL_DEV (1ULL << 15)
#define LL_FILE_RIGHTS (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)

struct ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct ll_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
struct ll_net_port { uint64_t allowed_access; uint64_t port; };

/* `landlock_tcp connect|bind PORTS`: that TCP access is handled (denied) except to PORTS. */
#define MAX_LL_PORTS 64
static struct { uint64_t handled; int n; struct ll_net_port ports[MAX_LL_PORTS]; } ll_net;

static void ll_tcp_parse(const char *what, const char *list) {
    uint64_t access = what && !strcmp(what, "connect") ? LL_NET_CONNECT_TCP : what && !strcmp(what, "bind") ? LL_NET_BIND_TCP : 0;
    if (!access) fail("landlock_tcp", what ? what : "-", EINVAL);
    ll_net.handled |= access;
    plan.has_landlock = 1;
    if (!list || !*list) return;
    char *dup = strdup(list);
    for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
        long port;
        if (!parse_num(tok, 65535, &port) || ll_net.n >= MAX_LL_PORTS) fail("landlock_tcp", list, EINVAL);
        ll_net.ports[ll_net.n++] = (struct ll_net_port){ .allowed_access = access, .port = (uint64_t)port };
    }
    free(dup);
}

/* `landlock PATH RIGHTS`: the FsRight names of src/sandbox/fs-plan.ts. Device nodes can
 * never be created (no MAKE_CHAR/MAKE_BLOCK); rights above the kernel's ABI are dropped
 * when the ruleset is built. */
static uint64_t parse_rights(const char *path, const char *list) {
    static const struct { const char *n; uint64_t a; } names[] = {
        {"read", LL_READ_FILE}, {"read_dir", LL_READ_DIR}, {"write", LL_WRITE_FILE | LL_IOCTL_DEV},
        {"create", LL_MAKE_REG | LL_MAKE_DIR | LL_MAKE_SOCK | LL_MAKE_FIFO | LL_MAKE_SYM},
        {"remove", LL_REMOVE_FILE | LL_REMOVE_DIR}, {"exec", LL_EXECUTE},
        {"truncate", LL_TRUNCATE}, {"refer", LL_REFER}};
    uint64_t access = 0;
    if (!list || !*list) fail("landlock", path ? path : "-", EINVAL);
    char *dup = strdup(list), *save = NULL;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < sizeof names / sizeof names[0] && strcmp(names[i].n, tok)) i++;
        if (i == sizeof names / sizeof names[0]) fail("landlock", tok, EINVAL);
        access |= names[i].a;
    }
    free(dup);
    return access;
}

static int landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* LANDLOCK_CREATE_RULESET_VERSION */);
    return v < 0 ? -errno : (int)v;
}

static void setup_landlock(void) {
    if (!plan.has_landlock) return;
    int abi = landlock_abi();
    if (abi < 1) fail("landlock", "abi", -abi);
    reportn("landlock", "abi", abi);
    uint64_t all = (1ULL << 13) - 1;
    if (abi >= 2) all |= LL_REFER;
    if (abi >= 3) all |= LL_TRUNCATE;
    if (abi >= 5) all |= LL_IOCTL_DEV;
    struct ll_ruleset_attr attr = { .handled_access_fs = all, .handled_access_net = ll_net.handled };
    if (ll_net.handled && abi < 4) fail("landlock_tcp", "abi", EOPNOTSUPP);
    if (plan.ll_scope) {
        if (has_opt(plan.ll_scope, "signal")) attr.scoped |= LL_SCOPE_SIGNAL;
        if (has_opt(plan.ll_scope, "abstract_unix")) attr.scoped |= LL_SCOPE_ABSTRACT_UNIX;
        if (abi < 6) fail("landlock_scope", plan.ll_scope, EOPNOTSUPP);
    }
    size_t size = abi >= 6 ? sizeof attr : offsetof(struct ll_ruleset_attr, scoped);
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) fail("landlock", "create_ruleset", errno);
    const uint64_t ro = LL_READ_FILE | LL_READ_DIR;
    const uint64_t rw = ro | LL_WRITE_FILE | LL_REMOVE_DIR | LL_REMOVE_FILE | LL_MAKE_DIR | LL_MAKE_REG |
                        LL_MAKE_SOCK | LL_MAKE_FIFO | LL_MAKE_SYM | LL_REFER | LL_TRUNCATE | LL_IOCTL_DEV;
    for (int i = 0; i < plan.nsteps; i++) {
        struct step *s = &plan.steps[i];
        if (s->kind < K_LL_RO) continue;
        const char *kn = kind_name(s->kind);
        /* No symlink anywhere in a grant path: a rule applies to the inode reached, so a
         * link (one the command's user may have planted in a writable tree) would grant its
         * target. The policy compiler emits resolved paths; a link is skipped (ELOOP). */
        struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
        int fd = (int)syscall(SYS_openat2, AT_FDCWD, s->path, &how, sizeof how);
        if (fd < 0) { skip(kn, s->path, errno); continue; }
        struct stat st;
        if (fstat(fd, &st) < 0) fail(kn, s->path, errno);
        /* O_PATH|O_NOFOLLOW opens a trailing link itself instead of failing */
        if (S_ISLNK(st.st_mode)) { close(fd); skip(kn, s->path, ELOOP); continue; }
        struct ll_path_beneath pb = { .parent_fd = fd };
        pb.allowed_access = (s->kind == K_LL ? s->access : s->kind == K_LL_RO ? ro : s->kind == K_LL_RW ? rw : ro | LL_EXECUTE) & all;
        if (!S_ISDIR(st.st_mode)) pb.allowed_access &= LL_FILE_RIGHTS;
        /* only directory rights on a file, or rights this kernel lacks: nothing to grant */
        if (!pb.allowed_access) { close(fd); skip(kn, s->path, ENOMSG); continue; }
        if (syscall(SYS_landlock_add_rule, rs, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0) < 0) fail(kn, s->path, errno);
        close(fd);
        report("ok", kn, s->path, NULL);
    }
    for (int i = 0; i < ll_net.n; i++) {
        if (syscall(SYS_landlock_add_rule, rs, 2 /* LANDLOCK_RULE_NET_PORT */, &ll_net.ports[i], 0) < 0) fail("landlock_tcp", NULL, errno);
        reportn("ok", ll_net.ports[i].allowed_access == LL_NET_CONNECT_TCP ? "landlock_tcp_connect" : "landlock_tcp_bind", (long)ll_net.ports[i].port);
    }
    /* restrict_self needs no_new_privs or CAP_SYS_ADMIN; caps are dropped later, so set it
     * here when the plan asks for it (it is applied anyway at step 13). */
    if (plan.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs", NULL, errno);
    if (syscall(SYS_landlock_restrict_self, rs, 0) < 0) fail("landlock", "restrict_self", errno);
    close(rs);
    report("ok", "landlock", plan.ll_scope ? plan.ll_scope : NULL, NULL);
}

/* ------------------------------------------------------------------ notify */
/*
 * seccomp user-notify (plan directive `notify`; protocol in the header comment). The
 * launcher only carries requests and verdicts: the server decides. Roles:
 *   command process  installs the filter (install_seccomp), sends the listener to the
 *                    outer launcher over notify_sock[1] (SCM_RIGHTS), closes it, execs
 *   pid 1            keeps notify_sock[1] only to relay its `exit`/`signal` line, so that
 *                    the outer launcher stays the only writer of long request lines
 *   outer launcher   the supervisor: outside the filter, the pid namespace and the mount
 *                    namespace (notif.pid is a pid of the caller's namespace; its /proc
 *                    and paths are the caller's; the sandbox's view of a path is reached
 *                    through /proc/PID/root of the stopped caller)
 */

#define NOTIFY_EXEC 1u
#define NOTIFY_SIGNAL 2u
#define NOTIFY_DELETE 4u
#define NOTIFY_ARGV_MAX (256u << 10)
#define NOTIFY_LINE_MAX (64u << 10) /* a verdict line, escaped */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

static unsigned notify_groups;
static int notify_ptrace; /* plan `notify_via ptrace`: SECCOMP_RET_TRACE, the supervisor traces */
static int notify_sock[2] = { -1, -1 }; /* [0] outer launcher, [1] pid 1 and the command */
static int notify_proc = -1;            /* the host's /proc (pids as the supervisor sees them) */
static int notify_sigpipe[2] = { -1, -1 };

#if defined(__x86_64__)
static const struct { int nr; unsigned group; const char *name; } notify_calls[] = {
    { __NR_execve, NOTIFY_EXEC, "execve" }, { __NR_execveat, NOTIFY_EXEC, "execveat" },
    { __NR_kill, NOTIFY_SIGNAL, "kill" }, { __NR_tkill, NOTIFY_SIGNAL, "tkill" },
    { __NR_tgkill, NOTIFY_SIGNAL, "tgkill" }, { __NR_rt_sigqueueinfo, NOTIFY_SIGNAL, "rt_sigqueueinfo" },
    { __NR_rt_tgsigqueueinfo, NOTIFY_SIGNAL, "rt_tgsigqueueinfo" },
    { __NR_pidfd_send_signal, NOTIFY_SIGNAL, "pidfd_send_signal" },
    { __NR_unlink, NOTIFY_DELETE, "unlink" }, { __NR_unlinkat, NOTIFY_DELETE, "unlinkat" },
    { __NR_rmdir, NOTIFY_DELETE, "rmdir" }, { __NR_rename, NOTIFY_DELETE, "rename" },
    { __NR_renameat, NOTIFY_DELETE, "renameat" }, { __NR_renameat2, NOTIFY_DELETE, "renameat2" },
};
#else
static const struct { int nr; unsigned group; const char *name; } notify_calls[] = { { -1, 0, "none" } };
#endif
enum { NOTIFY_NCALLS = sizeof notify_calls / sizeof notify_calls[0] };

static const char *notify_groups_text(void) {
    static char t[32];
    snprintf(t, sizeof t, "%s%s%s%s%s", notify_groups & NOTIFY_EXEC ? "exec" : "",
             (notify_groups & NOTIFY_EXEC) && (notify_groups & (NOTIFY_SIGNAL | NOTIFY_DELETE)) ? "," : "",
             notify_groups & NOTIFY_SIGNAL ? "signal" : "",
             (notify_groups & NOTIFY_SIGNAL) && (notify_groups & NOTIFY_DELETE) ? "," : "",
             notify_groups & NOTIFY_DELETE ? "delete" : "");
    return t;
}

static void notify_parse(const char *val) {
    char *dup = strdup(val), *save = NULL;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "exec")) notify_groups |= NOTIFY_EXEC;
        else if (!strcmp(tok, "signal")) notify_groups |= NOTIFY_SIGNAL;
        else if (!strcmp(tok, "delete")) notify_groups |= NOTIFY_DELETE;
        else fail("notify", tok, EINVAL);
    }
    free(dup);
    if (!notify_groups) fail("notify", val, EINVAL);
}

/* notify_via seccomp|ptrace: how the notified calls reach the supervisor. */
static void notify_via_parse(const char *val) {
    if (!strcmp(val, "ptrace")) notify_ptrace = 1;
    else if (!strcmp(val, "seccomp")) notify_ptrace = 0;
    else fail("notify_via", val, EINVAL);
}

/* notify_ask NAMES: the execs the server wants to decide (comma list of lower-case
 * basenames, and absolute paths). Any other exec is answered CONTINUE at once and reported
 * as a `notice` line (same words as the request) for the server's audit: the server put
 * every name a rule could refuse or condition (argv patterns, depth) in the list, so the
 * decision stays the server's. Absent: every exec is asked. */
static char **ask_names;
static size_t ask_n;
static int ask_set;

static void notify_ask_parse(const char *val) {
    char *dup = strdup(val), *save = NULL;
    ask_set = 1;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char **grown = realloc(ask_names, (ask_n + 1) * sizeof *ask_names);
        if (!grown) fail("notify_ask", "-", ENOMEM);
        ask_names = grown;
        ask_names[ask_n++] = tok;
    }
}

/* Does the server want to decide this exec? Names are compared as the policy engine does:
 * ASCII lower-case, a trailing ".real" (the shim's real shell) stripped. Anything else than
 * plain ASCII is asked. */
static int notify_must_ask(const char *path) {
    if (!ask_set) return 1;
    char low[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof low) return 1;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c >= 0x80) return 1;
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    char *base = strrchr(low, '/');
    base = base ? base + 1 : low;
    char stripped[PATH_MAX];
    size_t bl = strlen(base);
    snprintf(stripped, sizeof stripped, "%s", base);
    if (bl > 5 && !strcmp(stripped + bl - 5, ".real")) stripped[bl - 5] = 0;
    for (size_t i = 0; i < ask_n; i++)
        if (!strcmp(ask_names[i], stripped) || !strcmp(ask_names[i], base) || !strcmp(ask_names[i], low)) return 1;
    return 0;
}

/* Right after the plan is read: what the directive needs, or the plan fails. */
static void notify_check_plan(void) {
    struct stat st;
    if (notify_ptrace && !notify_groups) fail("notify_via", "needs-notify", EINVAL);
    if (!notify_groups) return;
#if !defined(__x86_64__)
    fail("notify", notify_groups_text(), ENOSYS);
#endif
    if (!(plan.ns_flags & CLONE_NEWPID)) fail("notify", "needs-pid-namespace", EINVAL);
    if (report_fd < 0) fail("notify", "needs-report-fd", EINVAL);
    /* verdicts come back on the report descriptor: it must be a socket */
    if (fstat(report_fd, &st) < 0 || !S_ISSOCK(st.st_mode)) fail("notify", "report-fd-not-a-socket", ENOTSOCK);
}

/* Outer launcher, before forking pid 1 (it stays in the caller's mount namespace). */
static void notify_prepare(void) {
    if (!notify_groups && !relay_count()) return;
    if (pipe2(notify_sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) fail("notify", "pipe", errno);
    if (!notify_groups) return;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify_sock) < 0) fail("notify", "socketpair", errno);
    /* ptrace: the command's hello carries its pid, translated by the kernel into ours */
    int one = 1;
    if (notify_ptrace && setsockopt(notify_sock[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) fail("notify", "passcred", errno);
    notify_proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (notify_proc < 0) fail("notify", "/proc", errno);
}

/* pid 1: keeps notify_sock[1] (for the command, and to relay its exit line). */
static void notify_in_init(void) {
    relay_close_all();
    if (notify_sigpipe[0] >= 0) { close(notify_sigpipe[0]); close(notify_sigpipe[1]); }
    notify_sigpipe[0] = notify_sigpipe[1] = -1;
    if (!notify_groups) return;
    close(notify_sock[0]);
    close(notify_proc);
    notify_sock[0] = notify_proc = -1;
}

/* Command process, right after the filter is installed: hand the listener over. */
static void notify_send_listener(int fd) {
    char byte = 'L';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(notify_sock[1], &m, MSG_NOSIGNAL) != 1) fail("notify", "send-listener", errno);
    close(fd);
    close(notify_sock[1]);
    notify_sock[1] = -1;
}

/* Command process, ptrace backend, right after the filter is installed: says `ptrace-ready`
 * (the kernel attaches its pid) and waits until the supervisor has seized it. Until then every
 * notified call would fail with ENOSYS (RET_TRACE without a tracer): nothing runs untraced. */
static void notify_ptrace_hello(void) {
    static const char hello[] = "ptrace-ready";
    if (send(notify_sock[1], hello, sizeof hello - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof hello - 1)) fail("notify", "ptrace-hello", errno);
    char ack = 0;
    ssize_t r;
    do r = recv(notify_sock[1], &ack, 1, 0); while (r < 0 && errno == EINTR);
    if (r != 1 || ack != 'T') fail("notify", "ptrace-seize", r < 0 ? errno : EPERM);
    close(notify_sock[1]);
    notify_sock[1] = -1;
}

/* pid 1: its `exit`/`signal` line goes through the outer launcher (returns 0: not relayed). */
static int notify_relay_exit(int st) {
    char line[64];
    if (notify_sock[1] < 0) return 0;
    int l = snprintf(line, sizeof line, WIFEXITED(st) ? "exit %d" : "signal %d", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return send(notify_sock[1], line, (size_t)l, MSG_NOSIGNAL) == l;
}

/* ---- supervisor (outer launcher) */

struct nbuf { char *p; size_t n, cap; };

static void nb_reserve(struct nbuf *b, size_t more) {
    if (b->n + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { report("notify-error", "ENOMEM", NULL, NULL); _exit(EXIT_FAIL); }
    b->p = p;
    b->cap = cap;
}

/* Appends " WORD" (no space before the first word), escaped as report values. */
static void nb_word(struct nbuf *b, const char *s) {
    size_t l = strlen(s);
    nb_reserve(b, 4 * l + 2);
    if (b->n) b->p[b->n++] = ' ';
    put_escaped(b->p, &b->n, b->cap, s);
}

static void nb_num(struct nbuf *b, long long v) {
    char t[32];
    snprintf(t, sizeof t, "%lld", v);
    nb_word(b, t);
}

static void nb_id(struct nbuf *b, uint64_t id) {
    char t[32];
    snprintf(t, sizeof t, "%llu", (unsigned long long)id);
    nb_word(b, t);
}

/* The whole line (plus '\n') to the report; -1 when the server is gone. */
static int notify_emit(struct nbuf *b) {
    nb_reserve(b, 1);
    b->p[b->n++] = '\n';
    for (size_t off = 0; off < b->n;) {
        ssize_t w = write(report_fd, b->p + off, b->n - off);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = report_fd, .events = POLLOUT };
            if (poll(&p, 1, -1) < 0 && errno != EINTR) return -1;
            continue;
        }
        return -1;
    }
    b->n = 0;
    return 0;
}

static int notify_line(const char *w1, uint64_t id, const char *w3) {
    struct nbuf b = { 0 };
    nb_word(&b, w1);
    nb_id(&b, id);
    if (w3) nb_word(&b, w3);
    int r = notify_emit(&b);
    free(b.p);
    return r;
}

static long notify_page;

/* Exactly len bytes of the target's memory, or -1. */
static int notify_mem(pid_t pid, uint64_t addr, void *dst, size_t len) {
    struct iovec l = { .iov_base = dst, .iov_len = len }, r = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
    return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* A NUL-terminated string of at most max - 1 bytes into dst (page by page: never reads past
 * the page holding the NUL). 0, or EFAULT (unreadable), or ENAMETOOLONG (too long). */
static int notify_str(pid_t pid, uint64_t addr, char *dst, size_t max, size_t *len) {
    size_t got = 0;
    if (!addr) return EFAULT;
    while (got < max) {
        size_t chunk = (size_t)notify_page - (size_t)((addr + got) % (uint64_t)notify_page);
        if (chunk > max - got) chunk = max - got;
        if (notify_mem(pid, addr + got, dst + got, chunk) < 0) return EFAULT;
        char *nul = memchr(dst + got, 0, chunk);
        if (nul) { *len = (size_t)(nul - dst); return 0; }
        got += chunk;
    }
    return ENAMETOOLONG;
}

/* readlinkat relative to the host's /proc; 0 or errno. */
static int notify_link(const char *rel, char *out, size_t cap) {
    ssize_t l = readlinkat(notify_proc, rel, out, cap - 1);
    if (l < 0) return errno;
    out[l] = 0;
    return 0;
}

/* A small /proc file of the host's /proc into out (NUL-terminated); 0 or errno. */
static int notify_read_proc(const char *rel, char *out, size_t cap) {
    int fd = openat(notify_proc, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap - 1) break;
    }
    close(fd);
    out[n] = 0;
    return 0;
}

/* pidfd_info (PIDFD_GET_INFO, kernel >= 6.13), its first version: ppid in our namespace. */
struct notify_pidfd_info {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
#define NOTIFY_PIDFD_GET_INFO _IOWR(0xFF, 11, struct notify_pidfd_info)
#define NOTIFY_PIDFD_THREAD O_EXCL
static int notify_no_pidfd_info;

static long notify_ppid(long pid) {
    char rel[48], stat[1024];
    if (!notify_no_pidfd_info) { /* ~4 us instead of ~20 us for rendering /proc/PID/stat */
        int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, NOTIFY_PIDFD_THREAD);
        if (fd >= 0) {
            struct notify_pidfd_info info = { .mask = 1 /* PIDFD_INFO_PID */ };
            int r = ioctl(fd, NOTIFY_PIDFD_GET_INFO, &info);
            int e = errno;
            close(fd);
            if (r == 0) return info.ppid ? (long)info.ppid : -1;
            if (e == ESRCH) return -1;
            notify_no_pidfd_info = e == ENOTTY || e == EINVAL || e == EOPNOTSUPP;
        } else if (errno == ESRCH) return -1;
        else notify_no_pidfd_info = errno == EINVAL || errno == ENOSYS;
    }
    snprintf(rel, sizeof rel, "%ld/stat", pid);
    if (notify_read_proc(rel, stat, sizeof stat)) return -1;
    char *p = strrchr(stat, ')'); /* comm may hold spaces and parentheses */
    long ppid = -1;
    if (!p || sscanf(p + 1, " %*c %ld", &ppid) != 1) return -1;
    return ppid;
}

struct notify_req {
    uint64_t id;
    pid_t pid;
    pid_t init;
    int refuse;           /* errno to answer without asking (0: ask) */
    const char *reason;   /* notify-refused REASON */
    char cwd[PATH_MAX];
    int has_cwd;
    char path[PATH_MAX];  /* the first path argument, as reported (an exec's program) */
};

static void notify_refuse(struct notify_req *q, int err, const char *reason) {
    if (!q->refuse) { q->refuse = err; q->reason = reason; }
}

/* The path argument at addr made absolute: relative to the cwd, or for a dirfd to what
 * /proc/PID/fd/N links to; empty_ok (AT_EMPTY_PATH) and "" name the dirfd itself. */
/* A path word, remembered when it is the request's first. */
static void notify_put_path(struct notify_req *q, struct nbuf *b, const char *p) {
    if (!q->path[0]) snprintf(q->path, sizeof q->path, "%s", p);
    nb_word(b, p);
}

static void notify_path(struct notify_req *q, struct nbuf *b, uint64_t addr, int dirfd, int empty_ok) {
    char path[PATH_MAX], base[PATH_MAX];
    size_t len = 0;
    if (q->refuse) return;
    int e = notify_str(q->pid, addr, path, sizeof path, &len);
    if (e == EFAULT) return notify_refuse(q, EFAULT, "unreadable-memory");
    if (e) return notify_refuse(q, EPERM, "path-too-long");
    if (path[0] == '/') return notify_put_path(q, b, path);
    if (dirfd == AT_FDCWD) {
        if (!q->has_cwd) {
            char rel[48];
            snprintf(rel, sizeof rel, "%d/cwd", (int)q->pid);
            if (notify_link(rel, q->cwd, sizeof q->cwd)) return notify_refuse(q, EPERM, "no-cwd");
            q->has_cwd = 1;
        }
        memcpy(base, q->cwd, sizeof base);
    } else {
        char rel[64];
        snprintf(rel, sizeof rel, "%d/fd/%d", (int)q->pid, dirfd);
        if (dirfd < 0 || notify_link(rel, base, sizeof base)) return notify_refuse(q, EPERM, "bad-dirfd");
        if (base[0] != '/') return notify_refuse(q, EPERM, "bad-dirfd"); /* socket:[..], anon_inode:.. */
    }
    if (!path[0] && empty_ok) return notify_put_path(q, b, base);
    char *joined = malloc(strlen(base) + strlen(path) + 2);
    if (!joined) return notify_refuse(q, EPERM, "ENOMEM");
    sprintf(joined, "%s%s%s", base, base[1] ? "/" : "", path);
    notify_put_path(q, b, joined);
    free(joined);
}

static void notify_argv(struct notify_req *q, struct nbuf *b, uint64_t argv) {
    static char strs[NOTIFY_ARGV_MAX];
    size_t used = 0, count = 0;
    if (q->refuse || !argv) return; /* a NULL argv is an empty one on Linux */
    for (uint64_t at = argv;; ) {
        uint64_t ptrs[512];
        size_t room = (size_t)notify_page - (size_t)(at % (uint64_t)notify_page);
        size_t n = room / sizeof(uint64_t);
        if (n == 0) n = 1;
        if (n > 512) n = 512;
        if (at % sizeof(uint64_t)) n = 1; /* unaligned: one at a time */
        if (notify_mem(q->pid, at, ptrs, n * sizeof(uint64_t)) < 0) return notify_refuse(q, EFAULT, "unreadable-memory");
        for (size_t i = 0; i < n; i++) {
            if (!ptrs[i]) goto done;
            size_t len = 0;
            if (used >= sizeof strs) return notify_refuse(q, EPERM, "argv-too-large");
            int e = notify_str(q->pid, ptrs[i], strs + used, sizeof strs - used, &len);
            if (e == EFAULT) return notify_refuse(q, EFAULT, "unreadable-memory");
            if (e) return notify_refuse(q, EPERM, "argv-too-large");
            used += len + 1;
            count++;
        }
        at += n * sizeof(uint64_t);
    }
done:
    for (size_t off = 0, i = 0; i < count; i++) {
        nb_word(b, strs + off);
        off += strlen(strs + off) + 1;
    }
}

/* pidfd_send_signal's target: the pid behind the pidfd, in the caller's pid namespace
 * (NSpid of the fd's fdinfo at the caller's depth); 0 if not visible there, -1 if gone. */
static long notify_pidfd_target(pid_t pid, int fd) {
    char rel[64], text[4096];
    snprintf(rel, sizeof rel, "%d/status", (int)pid);
    if (fd < 0 || notify_read_proc(rel, text, sizeof text)) return -1;
    char *ns = strstr(text, "\nNSpid:");
    int depth = 0;
    if (ns) for (char *p = ns + 7; *p && *p != '\n'; p++) if (*p == '\t' || *p == ' ') depth++;
    if (depth > 0) depth--; /* fields - 1: 0 = the supervisor's own namespace */
    snprintf(rel, sizeof rel, "%d/fdinfo/%d", (int)pid, fd);
    if (notify_read_proc(rel, text, sizeof text)) return -1;
    ns = strstr(text, "\nNSpid:");
    if (!ns) {
        ns = strstr(text, "\nPid:");
        long v;
        return ns && sscanf(ns + 5, "%ld", &v) == 1 ? v : -1;
    }
    char *p = ns + 7;
    long v = 0;
    for (int i = 0; i <= depth; i++) {
        char *end;
        v = strtol(p, &end, 10);
        if (end == p) return i == 0 ? -1 : 0;
        if (v < 0) return -1;
        p = end;
    }
    return v;
}

static const char *notify_call_name(int nr) {
    for (int i = 0; i < NOTIFY_NCALLS; i++) if (notify_calls[i].nr == nr) return notify_calls[i].name;
    return NULL;
}

enum { NK_NONE, NK_EXEC, NK_SIGNAL, NK_UNLINK, NK_RMDIR, NK_RENAME };

/* Builds the request line for one notification; returns its kind (NK_NONE: not ours). */
static int notify_build(struct notify_req *q, const struct seccomp_notif *n, struct nbuf *b) {
    const __u64 *a = n->data.args;
    const char *name = notify_call_name(n->data.nr);
#define FD(i) ((int)(uint32_t)a[i])
    if (!name) return NK_NONE;
    nb_word(b, "notify");
    nb_id(b, q->id);
    if (!strcmp(name, "execve") || !strcmp(name, "execveat")) {
        int at = !strcmp(name, "execveat");
        nb_word(b, "exec");
        nb_num(b, q->pid);
        char list[2048] = "";
        size_t ll = 0;
        long p = notify_ppid(q->pid);
        for (int depth = 0; p > 1 && p != q->init && depth < 128; depth++) {
            int w = snprintf(list + ll, sizeof list - ll, "%s%ld", ll ? "," : "", p);
            if (w < 0 || (size_t)w >= sizeof list - ll) break;
            ll += (size_t)w;
            p = notify_ppid(p);
        }
        nb_word(b, list);
        notify_path(q, b, at ? a[1] : a[0], at ? FD(0) : AT_FDCWD, at && (a[4] & AT_EMPTY_PATH));
        if (!q->has_cwd && !q->refuse) {
            char rel[48];
            snprintf(rel, sizeof rel, "%d/cwd", (int)q->pid);
            if (notify_link(rel, q->cwd, sizeof q->cwd)) notify_refuse(q, EPERM, "no-cwd");
            else q->has_cwd = 1;
        }
        if (!q->refuse) nb_word(b, q->cwd);
        notify_argv(q, b, at ? a[2] : a[1]);
        return NK_EXEC;
    }
    if (!strcmp(name, "unlink") || !strcmp(name, "rmdir") || !strcmp(name, "unlinkat")) {
        int at = !strcmp(name, "unlinkat");
        int rmdir_ = name[0] == 'r' || (at && (a[2] & AT_REMOVEDIR));
        nb_word(b, rmdir_ ? "rmdir" : "unlink");
        nb_num(b, q->pid);
        if (at) notify_path(q, b, a[1], FD(0), 0);
        else notify_path(q, b, a[0], AT_FDCWD, 0);
        return rmdir_ ? NK_RMDIR : NK_UNLINK;
    }
    if (!strncmp(name, "rename", 6)) {
        nb_word(b, "rename");
        nb_num(b, q->pid);
        if (strcmp(name, "rename")) { /* renameat, renameat2 */
            notify_path(q, b, a[1], FD(0), 0);
            notify_path(q, b, a[3], FD(2), 0);
            nb_num(b, !strcmp(name, "renameat2") ? (long long)(uint32_t)a[4] : 0);
        } else {
            notify_path(q, b, a[0], AT_FDCWD, 0);
            notify_path(q, b, a[1], AT_FDCWD, 0);
            nb_num(b, 0);
        }
        return NK_RENAME;
    }
    /* signals */
    long target, sig;
    if (!strcmp(name, "tgkill")) { target = FD(1); sig = FD(2); }
    else if (!strcmp(name, "rt_tgsigqueueinfo")) { target = FD(1); sig = FD(2); }
    else if (!strcmp(name, "pidfd_send_signal")) { target = notify_pidfd_target(q->pid, FD(0)); sig = FD(1); }
    else { target = FD(0); sig = FD(1); } /* kill, tkill, rt_sigqueueinfo */
    nb_word(b, "signal");
    nb_num(b, q->pid);
    nb_word(b, name);
    nb_num(b, target);
    nb_num(b, sig);
    return NK_SIGNAL;
#undef FD
}

static struct {
    int listener;
    pid_t init;
    int server_gone;
    int pending;          /* a request is waiting for its verdict */
    uint64_t pending_id;
    int pending_kind;
    pid_t pending_pid;
    struct seccomp_notif *req;
    struct seccomp_notif_resp *resp;
    size_t req_size, resp_size;
    char in[NOTIFY_LINE_MAX];
    size_t in_n;
    int in_skip;          /* discarding the rest of an over-long line */
} sup = { .listener = -1 };

/* The answer to one stopped call (`pid`: the caller, for the ptrace backend). */
static void notify_respond(pid_t pid, uint64_t id, long long val, int err, unsigned flags) {
    if (notify_ptrace) {
        tracer_answer(pid, (flags & SECCOMP_USER_NOTIF_FLAG_CONTINUE) != 0, err ? -err : val);
        return;
    }
    memset(sup.resp, 0, sup.resp_size);
    sup.resp->id = id;
    sup.resp->val = val;
    sup.resp->error = err ? -err : 0;
    sup.resp->flags = flags;
    while (ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_SEND, sup.resp) < 0 && errno == EINTR) {}
    /* ENOENT: the caller is gone (killed) or the id is stale: nothing to answer */
}

/* The server can no longer decide: end the sandbox. A pending call is NOT answered (not
 * even EPERM): answered, its caller could run on until the namespace's teardown reaches
 * it; unanswered, it stays stopped in the kernel and dies with pid 1's namespace. */
static void notify_fail_closed(void) {
    kill(sup.init, SIGKILL);
    sup.pending = 0;
    sup.server_gone = 1;
}

/* One stopped call, from the listener or a seccomp stop of a tracee: refused, let through
 * (execs the server does not decide: a `notice` line), or asked (the pending request). */
static void notify_handle(const struct seccomp_notif *n) {
    if (sup.server_gone) { kill(sup.init, SIGKILL); return; } /* unanswered: dies with pid 1 */
    struct notify_req q = { .id = n->id, .pid = (pid_t)n->pid, .init = sup.init };
    struct nbuf b = { 0 };
    int kind = notify_build(&q, n, &b);
    if (kind == NK_NONE) { /* not a notified syscall: cannot happen with our filter */
        notify_respond(q.pid, n->id, 0, ENOSYS, 0);
    } else if (q.refuse) {
        notify_respond(q.pid, n->id, 0, q.refuse, 0);
        if (notify_line("notify-refused", n->id, q.reason) < 0) notify_fail_closed();
    } else if (!notify_ptrace && ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &q.id) < 0) {
        /* the caller died (or was interrupted before we read it): the arguments we read
         * may belong to another process by now; nothing to ask (a tracee stays stopped) */
    } else if (kind == NK_EXEC && !notify_must_ask(q.path)) {
        /* Not one the server decides: it runs now, the server hears of it (`notice`). */
        notify_respond(q.pid, n->id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
        memcpy(b.p, "notice", 6); /* same length as "notify" */
        if (notify_emit(&b) < 0) notify_fail_closed();
    } else {
        sup.pending = 1;
        sup.pending_id = n->id;
        sup.pending_kind = kind;
        sup.pending_pid = q.pid;
        if (notify_emit(&b) < 0) notify_fail_closed();
    }
    free(b.p);
}

static void notify_recv(void) {
    memset(sup.req, 0, sup.req_size);
    if (ioctl(sup.listener, SECCOMP_IOCTL_NOTIF_RECV, sup.req) < 0) {
        if (errno == EINTR || errno == ENOENT) return;
        report("notify-error", "recv", errname(errno), NULL);
        close(sup.listener); /* notified calls now fail with ENOSYS: closed, not open */
        sup.listener = -1;
        return;
    }
    notify_handle(sup.req);
}

/* ptrace backend: the queued seccomp stops, one at a time, until one waits for a verdict. */
static uint64_t trace_ids;
static void notify_trace_next(void) {
    pid_t pid;
    while (!sup.pending && (pid = tracer_next()) > 0) {
        memset(sup.req, 0, sup.req_size);
        struct seccomp_notif *n = sup.req;
        int nr;
        if (tracer_syscall(pid, &n->data.arch, &nr, (uint64_t *)n->data.args)) continue; /* gone */
        n->id = ++trace_ids;
        n->pid = (uint32_t)pid;
        n->data.nr = nr;
        notify_handle(n);
    }
}

/* Soft delete. SRC names a file as the command sees it; DIR is a path of the supervisor's
 * (the caller's, i.e. the server's) mount namespace, so the server can hide the trash from
 * the sandbox. SRC's parent is opened in both views without following any symlink (openat2
 * RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS; the sandbox's through /proc/PID/root of the
 * stopped caller, RESOLVE_IN_ROOT) and must be the same directory (device and inode: the
 * workspace, bound at its real path) on a mount the sandbox may write (a read-only bind
 * stays read-only); then renameat2(parent, basename(SRC), dir, NAME, RENAME_NOREPLACE) in
 * the supervisor's view. 0 or errno (EXDEV: SRC is not the server's file of that name,
 * e.g. it lies in the sandbox's own /tmp). */
static int notify_trash(pid_t caller, const char *src, const char *dir, const char *name, int kind) {
    struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
    struct open_how inside = how;
    inside.resolve |= RESOLVE_IN_ROOT;
    if (src[0] != '/' || dir[0] != '/' || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) return EINVAL;
    char *copy = strdup(src), rel[48];
    size_t l = strlen(copy);
    while (l > 1 && copy[l - 1] == '/') copy[--l] = 0;
    char *slash = strrchr(copy, '/'), *base = slash + 1;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) { free(copy); return EINVAL; }
    *slash = 0;
    const char *parent = copy[0] ? copy : "/";
    int e = 0, root = -1, sfd = -1, pfd = -1, dfd = -1;
    struct stat sst, hst, st;
    struct statvfs vfs;
    snprintf(rel, sizeof rel, "%d/root", (int)caller); /* the caller is stopped: its root holds */
    if ((root = openat(notify_proc, rel, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) e = errno;
    else if ((sfd = (int)syscall(SYS_openat2, root, parent, &inside, sizeof inside)) < 0) e = errno;
    else if ((pfd = (int)syscall(SYS_openat2, AT_FDCWD, parent, &how, sizeof how)) < 0) e = errno;
    else if (fstat(sfd, &sst) < 0 || fstat(pfd, &hst) < 0) e = errno;
    else if (sst.st_dev != hst.st_dev || sst.st_ino != hst.st_ino) e = EXDEV;
    else if (fstatvfs(sfd, &vfs) < 0) e = errno;
    else if (vfs.f_flag & ST_RDONLY) e = EROFS;
    else if ((dfd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof how)) < 0) e = errno;
    else if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) e = errno;
    /* what the caller's own call would have refused stays refused */
    if (!e && kind == NK_UNLINK && S_ISDIR(st.st_mode)) e = EISDIR;
    if (!e && kind == NK_RMDIR && !S_ISDIR(st.st_mode)) e = ENOTDIR;
    if (!e && kind != NK_UNLINK && S_ISDIR(st.st_mode)) { /* rmdir, and a rename over a dir: empty only */
        int d = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *dp = d < 0 ? NULL : fdopendir(d);
        if (!dp) e = errno;
        for (struct dirent *de; dp && !e && (de = readdir(dp));)
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) e = ENOTEMPTY;
        if (dp) closedir(dp);
        else if (d >= 0) close(d);
    }
    if (!e && renameat2(pfd, base, dfd, name, RENAME_NOREPLACE) < 0) e = errno;
    if (root >= 0) close(root);
    if (sfd >= 0) close(sfd);
    if (pfd >= 0) close(pfd);
    if (dfd >= 0) close(dfd);
    free(copy);
    return e;
}

static int parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 1;
}

static int parse_s64(const char *s, long long *out) {
    uint64_t v;
    int neg = *s == '-';
    if (!parse_u64(s + neg, &v) || v > (uint64_t)LLONG_MAX) return 0;
    *out = neg ? -(long long)v : (long long)v;
    return 1;
}

static void notify_verdict(char *line) {
    char *w[8];
    int nw = 0;
    char *raw = strdup(line);
    for (char *p = line; nw < 8;) {
        w[nw++] = p;
        char *sp = strchr(p, ' ');
        if (!sp) break;
        *sp = 0;
        p = sp + 1;
    }
    int ok = nw >= 3 && !strcmp(w[0], "verdict");
    for (int i = 0; ok && i < nw; i++) ok = unescape(w[i]);
    uint64_t id = 0;
    int has_id = ok && parse_u64(w[1], &id);
    if (!has_id) {
        if (strlen(raw) > 256) raw[256] = 0;
        report("notify-error", "malformed", raw, NULL);
        free(raw);
        return;
    }
    if (!sup.pending || id != sup.pending_id) {
        report("notify-error", "unknown-id", w[1], NULL);
        free(raw);
        return;
    }
    const char *act = w[2];
    long long v;
    int kind = sup.pending_kind;
    pid_t caller = sup.pending_pid;
    sup.pending = 0;
    if (!strcmp(act, "continue") && nw == 3) notify_respond(caller, id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
    else if (!strcmp(act, "errno") && nw == 4 && parse_s64(w[3], &v) && v >= 1 && v <= 4095) notify_respond(caller, id, 0, (int)v, 0);
    else if (!strcmp(act, "value") && nw == 4 && parse_s64(w[3], &v)) notify_respond(caller, id, v, 0, 0);
    else if (!strcmp(act, "trash") && nw == 7 && kind >= NK_UNLINK && (!strcmp(w[6], "value0") || !strcmp(w[6], "continue"))) {
        int e = notify_trash(caller, w[3], w[4], w[5], kind);
        if (e) {
            /* the caller's own answer where it would have been the kernel's, else EPERM */
            notify_respond(caller, id, 0, e == EISDIR || e == ENOTDIR || e == ENOTEMPTY ? e : EPERM, 0);
            if (notify_line("trash-failed", id, errname(e)) < 0) notify_fail_closed();
        } else {
            if (!strcmp(w[6], "continue")) notify_respond(caller, id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
            else notify_respond(caller, id, 0, 0, 0);
            if (notify_line("trashed", id, NULL) < 0) notify_fail_closed();
        }
    } else {
        /* a malformed verdict for the pending request: refused, never left hanging */
        notify_respond(caller, id, 0, EPERM, 0);
        if (strlen(raw) > 256) raw[256] = 0;
        report("notify-error", "malformed", raw, NULL);
    }
    free(raw);
}

static void notify_read_verdicts(void) {
    char chunk[8192];
    ssize_t r = read(report_fd, chunk, sizeof chunk);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r <= 0) { notify_fail_closed(); return; } /* EOF or error: the server is gone */
    for (ssize_t i = 0; i < r; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (sup.in_skip) report("notify-error", "line-too-long", NULL, NULL);
            else { sup.in[sup.in_n] = 0; if (sup.in_n) notify_verdict(sup.in); }
            sup.in_n = 0;
            sup.in_skip = 0;
        } else if (sup.in_skip) {
        } else if (sup.in_n + 1 >= sizeof sup.in || c == 0) {
            sup.in_skip = 1;
        } else sup.in[sup.in_n++] = c;
    }
}

/* A message from pid 1 or the command on notify_sock[0]: the listener, or pid 1's exit line. */
static int notify_from_sandbox(int flags) {
    char data[128];
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))]; } u;
    struct iovec iov = { .iov_base = data, .iov_len = sizeof data - 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    ssize_t r = recvmsg(notify_sock[0], &m, MSG_CMSG_CLOEXEC | flags);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (r <= 0) { close(notify_sock[0]); notify_sock[0] = -1; return 0; }
    int got_fd = 0;
    pid_t sender = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(c), sizeof cr);
            sender = cr.pid;
        }
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (sup.listener < 0) {
                sup.listener = fd;
                /* 6.6+: the answered caller is woken on this CPU (a ping-pong, not a
                 * migration); an older kernel says EINVAL/ENOTTY, which changes nothing */
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0) { /* optional */ }
            }
            else close(fd);
            got_fd = 1;
        }
    }
    if (!got_fd && notify_ptrace && r == 12 && !memcmp(data, "ptrace-ready", 12)) {
        /* the command, filter installed, waits to be seized (its pid as the kernel gave it) */
        int e = sender > 0 ? tracer_seize(sender) : ESRCH;
        if (e) {
            report("notify-error", "ptrace-seize", errname(e), NULL);
            kill(sup.init, SIGKILL);
        }
        if (send(notify_sock[0], e ? "F" : "T", 1, MSG_NOSIGNAL) != 1) kill(sup.init, SIGKILL);
        return 1;
    }
    if (!got_fd) { /* pid 1's `exit N` / `signal N` */
        data[r] = 0;
        struct nbuf b = { 0 };
        nb_reserve(&b, (size_t)r);
        memcpy(b.p, data, (size_t)r);
        b.n = (size_t)r;
        notify_emit(&b);
        free(b.p);
    }
    return 1;
}

/* Blocking wait for pid 1 (after it was killed); its exit code as the launcher's. */
static int notify_reap(pid_t init) {
    int st;
    while (waitpid(init, &st, 0) < 0) if (errno != EINTR) return EXIT_FAIL;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void notify_on_sigchld(int sig) {
    int e = errno;
    (void)sig;
    if (write(notify_sigpipe[1], "c", 1) < 0) { /* full: a wakeup is pending anyway */ }
    errno = e;
}

/* The outer launcher with `notify` or `relay`: answers notifications and carries the relays
 * until pid 1 exits; returns its exit code. */
static int notify_supervise(pid_t init) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a gone server is an EPIPE, handled; never a signal */
    sa.sa_handler = notify_on_sigchld;
    /* a tracee's ptrace stops are SIGCHLDs too: SA_NOCLDSTOP would hide them */
    sa.sa_flags = SA_RESTART | (notify_ptrace ? 0 : SA_NOCLDSTOP);
    sigaction(SIGCHLD, &sa, NULL);
    sup.init = init;
    if (!notify_groups) {
        sup.server_gone = 1; /* no verdicts to read: the report descriptor is pid 1's */
        goto loop;
    }
    close(notify_sock[1]);
    notify_sock[1] = -1;
    notify_page = sysconf(_SC_PAGESIZE);
    struct seccomp_notif_sizes sz = { 0 };
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) memset(&sz, 0, sizeof sz);
    sup.req_size = sz.seccomp_notif > sizeof(struct seccomp_notif) ? sz.seccomp_notif : sizeof(struct seccomp_notif);
    sup.resp_size = sz.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sz.seccomp_notif_resp : sizeof(struct seccomp_notif_resp);
    sup.req = calloc(1, sup.req_size);
    sup.resp = calloc(1, sup.resp_size);
    if (!sup.req || !sup.resp) { kill(init, SIGKILL); return notify_reap(init); }
loop:;
    int code;
    for (;;) {
        int st;
        if (notify_ptrace) {
            if (tracer_reap(init, &st)) { code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); break; }
            notify_trace_next();
        } else {
            pid_t w = waitpid(init, &st, WNOHANG);
            if (w == init) { code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); break; }
            if (w < 0 && errno != EINTR) { code = EXIT_FAIL; break; }
        }
        struct pollfd p[5];
        int np = 0, i_sock = -1, i_rep = -1, i_lis = -1, i_relay = -1;
        p[np++] = (struct pollfd){ .fd = notify_sigpipe[0], .events = POLLIN };
        if (notify_sock[0] >= 0) { i_sock = np; p[np++] = (struct pollfd){ .fd = notify_sock[0], .events = POLLIN }; }
        if (!sup.server_gone) { i_rep = np; p[np++] = (struct pollfd){ .fd = report_fd, .events = POLLIN }; }
        if (sup.listener >= 0 && !sup.pending) { i_lis = np; p[np++] = (struct pollfd){ .fd = sup.listener, .events = POLLIN }; }
        if (relay_fd() >= 0) { i_relay = np; p[np++] = (struct pollfd){ .fd = relay_fd(), .events = POLLIN }; }
        if (poll(p, (nfds_t)np, -1) < 0) {
            if (errno == EINTR) continue;
            notify_fail_closed();
            code = notify_reap(init);
            break;
        }
        if (p[0].revents) { char drain[64]; while (read(notify_sigpipe[0], drain, sizeof drain) > 0) {} }
        if (i_sock >= 0 && p[i_sock].revents) notify_from_sandbox(0);
        if (i_rep >= 0 && p[i_rep].revents) notify_read_verdicts();
        if (i_lis >= 0 && sup.listener >= 0 && p[i_lis].revents) {
            if (p[i_lis].revents & POLLIN) notify_recv();
            else { close(sup.listener); sup.listener = -1; } /* POLLHUP: no task uses the filter any more */
        }
        if (i_relay >= 0 && p[i_relay].revents) relay_run();
    }
    /* pid 1's exit line was sent before it exited: relay it last */
    while (notify_sock[0] >= 0 && notify_from_sandbox(MSG_DONTWAIT)) {}
    if (sup.listener >= 0) close(sup.listener);
    return code;
}

/* -------------------------------------------------------------- end notify */

/* ----------------------------------------------------------------- seccomp */

#ifndef __NR_open_tree
#define __NR_open_tree 428
#endif
#ifndef __NR_move_mount
#define __NR_move_mount 429
#endif
#ifndef __NR_fsopen
#define __NR_fsopen 430
#endif
#ifndef __NR_fsconfig
#define __NR_fsconfig 431
#endif
#ifndef __NR_fsmount
#define __NR_fsmount 432
#endif
#ifndef __NR_fspick
#define __NR_fspick 433
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif

#define NS_CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)

/* One filter for the deny-list (plan `seccomp deny-list`) and the notified syscalls (plan
 * `notify`): the arch and x32 checks first, then the deny-list, then USER_NOTIF for the
 * notified calls, else ALLOW. With `notify` it is installed with a listener, handed to the
 * supervisor (notify_send_listener) before exec. */
static void install_seccomp(void) {
#if defined(__x86_64__)
    static const int denied[] = {
        __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev,
        __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_move_mount, __NR_open_tree,
        __NR_fsopen, __NR_fsmount, __NR_fsconfig, __NR_fspick, __NR_mount_setattr,
        __NR_unshare, __NR_setns, __NR_bpf, __NR_keyctl, __NR_add_key, __NR_request_key,
        __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register, __NR_perf_event_open,
        __NR_kexec_load, __NR_kexec_file_load, __NR_init_module, __NR_finit_module, __NR_delete_module,
        __NR_reboot, __NR_swapon, __NR_swapoff, __NR_userfaultfd, __NR_open_by_handle_at,
    };
    enum { N = sizeof denied / sizeof denied[0], L_ALLOW = 256, L_NOTIF, L_EPERM };
    struct sock_filter f[N + NOTIFY_NCALLS + 24];
    unsigned jt[N + NOTIFY_NCALLS + 24], jf[N + NOTIFY_NCALLS + 24]; /* labels, resolved below */
    unsigned n = 0;
#define STMT(c, k) (jt[n] = jf[n] = 0, f[n++] = (struct sock_filter)BPF_STMT((c), (k)))
#define JUMP(c, k, t, e) (jt[n] = (t), jf[n] = (e), f[n++] = (struct sock_filter)BPF_JUMP((c), (k), 0, 0))
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1); /* x32 ABI */
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    if (plan.seccomp) {
        for (unsigned i = 0; i < N; i++) JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], L_EPERM, 0);
        /* clone3 takes its flags in memory a filter can't read: ENOSYS makes libc fall back
         * to clone, whose flags are checked below (no new namespaces). */
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
        STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    }
    for (int i = 0; i < NOTIFY_NCALLS; i++)
        if (notify_groups & notify_calls[i].group) JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)notify_calls[i].nr, L_NOTIF, 0);
    if (plan.seccomp) {
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, L_ALLOW);
        STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
        JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_CLONE_FLAGS, L_EPERM, L_ALLOW);
    }
    unsigned body = n;
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);      /* L_ALLOW = body */
    STMT(BPF_RET | BPF_K, notify_ptrace ? SECCOMP_RET_TRACE : SECCOMP_RET_USER_NOTIF); /* L_NOTIF = body + 1 */
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM); /* L_EPERM = body + 2 */
    for (unsigned i = 0; i < body; i++) {
        unsigned t = jt[i] >= L_ALLOW ? body + (jt[i] - L_ALLOW) - i - 1 : jt[i];
        unsigned e = jf[i] >= L_ALLOW ? body + (jf[i] - L_ALLOW) - i - 1 : jf[i];
        if (t > 255 || e > 255) fail("seccomp", "filter-too-long", E2BIG);
        f[i].jt = (unsigned char)t;
        f[i].jf = (unsigned char)e;
    }
#undef STMT
#undef JUMP
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    const char *what = plan.seccomp ? "deny-list" : notify_groups_text();
    if (!notify_groups || notify_ptrace) {
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail(plan.seccomp ? "seccomp" : "notify", what, errno);
        if (notify_ptrace) notify_ptrace_hello();
    } else {
        /* WAIT_KILLABLE_RECV: once the supervisor has read a request, only a fatal signal
         * interrupts the caller (a non-fatal one would restart the call and ask twice) */
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
        if (fd < 0 && errno == EINVAL)
            fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0) fail(plan.seccomp ? "seccomp" : "notify", what, errno);
        notify_send_listener((int)fd);
    }
    if (plan.seccomp) report("ok", "seccomp", "deny-list", NULL);
    if (notify_groups) report("ok", "notify", notify_groups_text(), NULL);
    if (notify_ptrace) report("ok", "notify_via", "ptrace", NULL);
#else
    fail(plan.seccomp ? "seccomp" : "notify", plan.seccomp ? "deny-list" : notify_groups_text(), ENOSYS); /* only x86_64 is implemented: fail closed */
#endif
}

/* ------------------------------------------------------------ capabilities */

static void drop_bounding(void) {
    for (int c = 0; c <= 63; c++) {
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) break; /* past the last capability */
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) fail("drop_caps", "bounding", errno);
    }
}

static void clear_caps(void) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail("drop_caps", "ambient", errno);
    if (syscall(SYS_capset, &h, d) < 0) fail("drop_caps", "capset", errno);
    report("ok", "drop_caps", NULL, NULL);
}

/* ---------------------------------------------------------------- process */

static pid_t child_pid = -1;

static void forward(int sig) { if (child_pid > 0) kill(child_pid, sig); }

static const int fwd_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static void install_forwarding(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof fwd_signals / sizeof fwd_signals[0]; i++) sigaction(fwd_signals[i], &sa, NULL);
}

static void reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof fwd_signals / sizeof fwd_signals[0]; i++) sigaction(fwd_signals[i], &sa, NULL);
}

static void set_pdeathsig(pid_t expected_parent) {
    if (!plan.pdeathsig) return;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail("pdeathsig", NULL, errno);
    if (expected_parent > 0 && getppid() != expected_parent) fail("pdeathsig", "parent-gone", ESRCH);
}

/* Waits for `pid`, reaping any other child on the way; returns the launcher exit code. */
static int wait_for(pid_t pid, int write_report) {
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, 0);
        if (r < 0) { if (errno == EINTR) continue; return EXIT_FAIL; }
        if (r != pid) continue;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (write_report && !notify_relay_exit(st)) {
            if (WIFEXITED(st)) reportn("exit", NULL, WEXITSTATUS(st));
            else reportn("signal", NULL, WTERMSIG(st));
        }
        return code;
    }
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t w = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* A new network namespace has only "lo", and it is down: bring it up (127.0.0.1 works,
 * nothing else exists). Never on the host's namespace. */
static void net_lo_up(void) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail("net_lo", "socket", errno);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) fail("net_lo", "SIOCGIFFLAGS", errno);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) fail("net_lo", "SIOCSIFFLAGS", errno);
    close(sock);
    report("ok", "net_lo", NULL, NULL);
}

/* The user and pid namespaces are created by the outer launcher (the pid namespace only
 * takes effect for its children; the user namespace must come first to own the others).
 * Every other namespace is created by the process that builds the sandbox (pid 1, or the
 * launcher itself without a pid namespace): the outer launcher stays in the caller's mount
 * namespace, which its supervisor needs (trash verdicts name the server's paths), and
 * pivot_root in the sandbox must not move the supervisor's root with it. */
#define OUTER_NS (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

static void do_unshare(int outer) {
    if (outer) {
        if (plan.user_identity && !(plan.ns_flags & CLONE_NEWUSER)) fail("user_map", "needs-user-namespace", EINVAL);
        if (plan.net_lo && !(plan.ns_flags & CLONE_NEWNET)) fail("net_lo", "needs-net-namespace", EINVAL);
        if (relay_count() && !plan.net_lo) fail("relay", "needs-net_lo", EINVAL);
        if (relay_count() && !(plan.ns_flags & CLONE_NEWPID)) fail("relay", "needs-pid-namespace", EINVAL);
    }
    int flags = plan.ns_flags & (outer ? OUTER_NS : ~OUTER_NS);
    if (!flags) return;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(flags) < 0) fail("unshare", plan.ns_text, errno);
    if (flags & CLONE_NEWUSER) {
        /* root: the caller is uid/gid 0 inside; identity: it keeps its own ids. Either way
         * this process holds every capability of the new namespace until exec. */
        unsigned in_uid = plan.user_identity ? (unsigned)uid : 0, in_gid = plan.user_identity ? (unsigned)gid : 0;
        char map[64];
        snprintf(map, sizeof map, "%u %u 1\n", in_uid, (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT) fail("unshare", "setgroups", errno);
        if (write_file("/proc/self/uid_map", map) < 0) fail("unshare", "uid_map", errno);
        snprintf(map, sizeof map, "%u %u 1\n", in_gid, (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0) fail("unshare", "gid_map", errno);
        report("ok", "user_map", plan.user_identity ? "identity" : "root", NULL);
    }
    if (!outer) report("ok", "unshare", plan.ns_text, NULL);
    if ((flags & CLONE_NEWNET) && plan.net_lo) net_lo_up();
    if ((flags & CLONE_NEWNET) && relay_count()) {
        const char *what = "-";
        int e = relay_listen(&what);
        if (e) fail("relay", what, e);
        report("ok", "relay", NULL, NULL);
    }
}

/* The first PATH entry holding an executable PROGRAM (execvp's search, without exec'ing). */
static int search_path(const char *program, char *out, size_t cap) {
    const char *path = getenv("PATH");
    if (!path || !*program) return 0;
    for (const char *p = path; ; ) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        int n = l ? snprintf(out, cap, "%.*s/%s", (int)l, p, program) : snprintf(out, cap, "./%s", program);
        struct stat st;
        if (n > 0 && (size_t)n < cap && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return 1;
        if (!e) return 0;
        p = e + 1;
    }
}

/* Steps 7..16, in the process that becomes the command. */
static _Noreturn void become_command(char *program, char **argv) {
    if (plan.chdir && chdir(plan.chdir) < 0) fail("chdir", plan.chdir, errno);
    if (plan.chdir) report("ok", "chdir", plan.chdir, NULL);
    for (int i = 0; i < plan.nrl; i++) {
        struct rlimit rl = { plan.rl[i].soft, plan.rl[i].hard };
        if (setrlimit(plan.rl[i].res, &rl) < 0) fail("rlimit", plan.rl[i].text, errno);
        report("ok", "rlimit", plan.rl[i].text, NULL);
    }
    /* Join the cgroups ("0" = the writer) before Landlock and the privilege drop; in this
     * process, so that everything the command forks is accounted (pid 1 stays outside). */
    for (int i = 0; i < ncgroups; i++) {
        ssize_t w;
        do w = write(cgroups[i].fd, "0\n", 2); while (w < 0 && errno == EINTR);
        if (w != 2) fail("cgroup", cgroups[i].path, w < 0 ? errno : EIO);
        close(cgroups[i].fd);
        report("ok", "cgroup", cgroups[i].path, NULL);
    }
    setup_landlock();
    if (plan.drop_caps) drop_bounding();
    if (plan.gid >= 0) {
        if (setgroups(0, NULL) < 0) fail("gid", "setgroups", errno);
        if (setresgid((gid_t)plan.gid, (gid_t)plan.gid, (gid_t)plan.gid) < 0) fail("gid", "setresgid", errno);
        reportn("ok", "gid", plan.gid);
    }
    if (plan.uid >= 0) {
        if (setresuid((uid_t)plan.uid, (uid_t)plan.uid, (uid_t)plan.uid) < 0) fail("uid", "setresuid", errno);
        reportn("ok", "uid", plan.uid);
    }
    if (plan.drop_caps) clear_caps();
    if (plan.nnp) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs", NULL, errno);
        report("ok", "no_new_privs", NULL, NULL);
    }
    reset_signals();
    /* No inherited descriptor reaches the command unless the plan says so. */
    if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) < 0) fail("close_range", NULL, errno);
    for (int k = 0; k < plan.nkeep; k++) {
        char v[16];
        snprintf(v, sizeof v, "%d", plan.keep_fds[k]);
        if (fcntl(plan.keep_fds[k], F_SETFD, 0) < 0) fail("keep_fd", v, errno);
        report("ok", "keep_fd", v, NULL);
    }
    /* PATH is searched before the filter: with user-notify, execvpe's failed attempts along
     * PATH would each be reported as the command's exec, the first one taken for it. */
    char found[PATH_MAX];
    if (!strchr(program, '/') && search_path(program, found, sizeof found)) program = found;
    if (plan.seccomp || notify_groups) install_seccomp();
    reportn("exec", NULL, (long)getpid());
    if (strchr(program, '/')) execve(program, argv, environ);
    else execvpe(program, argv, environ);
    int e = errno;
    report("fail", "exec", program, errname(e));
    _exit(e == ENOENT ? 127 : EXIT_FAIL);
}

/* ------------------------------------------------------------------- probe */

static void probe_child(const char *label, int (*fn)(void)) {
    pid_t p = fork();
    if (p == 0) _exit(fn() < 0 ? (errno & 0xff) : 0);
    int st = 0;
    waitpid(p, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) printf("%s ok\n", label);
    else if (WIFEXITED(st)) printf("%s unavailable %s\n", label, errname(WEXITSTATUS(st)));
    else printf("%s unavailable signal-%d\n", label, WTERMSIG(st));
}

static int probe_flag;
static int try_unshare(void) { return unshare(probe_flag); }
static int try_seccomp(void) {
    struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog = { .len = 1, .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}
static int try_notify(void) {
    struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog = { .len = 1, .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    return fd < 0 ? -1 : 0;
}
static int try_landlock(void) {
    struct ll_ruleset_attr a = { .handled_access_fs = LL_EXECUTE };
    int rs = (int)syscall(SYS_landlock_create_ruleset, &a, offsetof(struct ll_ruleset_attr, handled_access_net), 0);
    if (rs < 0) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    return (int)syscall(SYS_landlock_restrict_self, rs, 0);
}

static int probe(void) {
    int abi = landlock_abi();
    if (abi > 0) printf("landlock abi %d\n", abi);
    else printf("landlock unavailable %s\n", errname(-abi));
    probe_child("landlock restrict_self", try_landlock);
    probe_child("seccomp filter", try_seccomp);
    probe_child("seccomp user_notif", try_notify);
    probe_child("ptrace seize", tracer_probe);
    static const struct { const char *n; int f; } ns[] = {
        {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
        /* what an unprivileged session sandbox creates in one go (its user namespace owns the rest) */
        {"user+mount+pid+ipc+uts", CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS},
        {"user+net", CLONE_NEWUSER | CLONE_NEWNET}};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char label[48];
        snprintf(label, sizeof label, "ns %s", ns[i].n);
        probe_flag = ns[i].f;
        probe_child(label, try_unshare);
    }
    printf("uid %u\n", (unsigned)getuid());
    return 0;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    long plan_fd = -1, rep_fd = -1;
    int i = 1;
    if (argc == 2 && !strcmp(argv[1], "--probe")) return probe();
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (!strcmp(argv[i], "--plan-fd") && i + 1 < argc && parse_num(argv[i + 1], INT_MAX, &plan_fd)) i++;
        else if (!strcmp(argv[i], "--report-fd") && i + 1 < argc && parse_num(argv[i + 1], INT_MAX, &rep_fd)) i++;
        else usage_fail("usage: agentsh-launcher --plan-fd N --report-fd M -- PROGRAM ARGV0 [ARGS...] | --probe");
    }
    if (plan_fd < 0 || argc - i < 2) usage_fail("usage: agentsh-launcher --plan-fd N --report-fd M -- PROGRAM ARGV0 [ARGS...] | --probe");
    if (rep_fd >= 0) {
        if (fcntl((int)rep_fd, F_SETFD, FD_CLOEXEC) < 0) usage_fail("--report-fd is not an open descriptor");
        report_fd = (int)rep_fd;
    }
    char *program = argv[i];
    char **cmd_argv = argv + i + 1;
    read_plan((int)plan_fd);
    notify_check_plan();

    pid_t launcher_parent = getppid();
    set_pdeathsig(launcher_parent);
    if (plan.pdeathsig) report("ok", "pdeathsig", NULL, NULL);
    do_unshare(1);
    if (!(plan.ns_flags & CLONE_NEWPID)) {
        do_unshare(0);
        /* the sysctl is per pid namespace: never change the host's */
        if (plan.memfd_noexec) fail("memfd_noexec", "needs-pid-namespace", EINVAL);
        setup_mounts();
        if (plan.hostname) {
            if (sethostname(plan.hostname, strlen(plan.hostname)) < 0) fail("hostname", plan.hostname, errno);
            report("ok", "hostname", plan.hostname, NULL);
        }
        become_command(program, cmd_argv);
    }

    /* Outer launcher: fork pid 1 of the new namespace, forward signals, wait. */
    pid_t me = getpid();
    notify_prepare();
    pid_t init = fork();
    if (init < 0) fail("fork", "init", errno);
    if (init > 0) {
        child_pid = init;
        install_forwarding();
        reportn("init", NULL, init);
        if (notify_groups || relay_count()) return notify_supervise(init);
        int code = wait_for(init, 0);
        return code;
    }
    /* pid 1 (its parent is outside the namespace: getppid() is 0, nothing to compare) */
    (void)me;
    notify_in_init();
    set_pdeathsig(0);
    do_unshare(0);
    if (plan.memfd_noexec) { /* this process is in the new pid namespace: the write is its own */
        if (write_file("/proc/sys/vm/memfd_noexec", "2") < 0) fail("memfd_noexec", NULL, errno);
        report("ok", "memfd_noexec", NULL, NULL);
    }
    setup_mounts();
    if (plan.hostname) {
        if (sethostname(plan.hostname, strlen(plan.hostname)) < 0) fail("hostname", plan.hostname, errno);
        report("ok", "hostname", plan.hostname, NULL);
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old); /* no forwarded signal lost before child_pid is set */
    pid_t cmd = fork();
    if (cmd < 0) fail("fork", "command", errno);
    if (cmd == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        set_pdeathsig(1);
        become_command(program, cmd_argv);
    }
    child_pid = cmd;
    install_forwarding();
    sigprocmask(SIG_SETMASK, &old, NULL);
    _exit(wait_for(cmd, 1));
}
