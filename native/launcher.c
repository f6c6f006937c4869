/*
 * agentsh session sandbox launcher. It makes no policy decision: the server compiles the
 * policy into a PLAN, the launcher applies it, reports facts back and execs the command.
 *
 *   agentsh-launcher --plan-fd N --report-fd M -- PROGRAM ARGV0 [ARGS...]
 *   agentsh-launcher --probe            (facts about this kernel, one per line, on stdout)
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -o agentsh-launcher launcher.c
 *
 * PLAN FORMAT (read from fd N until EOF). One directive per line: KEY[<TAB>VALUE[<TAB>OPTS]].
 * VALUE and OPTS are escaped so that any byte survives: "\\" = backslash, "\t" = TAB,
 * "\n" = newline, "\xHH" = any byte. Empty lines and lines starting with '#' are ignored.
 * An unknown directive or a malformed value fails the whole plan (exit 126).
 *
 *   unshare      mount,pid,ipc,uts,net,user,cgroup  namespaces (user: maps the caller's
 *                                          uid/gid to 0 inside; for the non-root path)
 *   hostname     NAME                      (needs uts)
 *   bind_ro      PATH [OPTS]               PATH of the host at the SAME path in the new root,
 *   bind_rw      PATH [OPTS]                 recursively; nosuid, and nodev unless PATH is
 *                                            itself a device node (/dev/null). OPTS: comma
 *                                            list of noexec, optional (missing → skip)
 *   tmpfs        PATH [OPTS]               fresh tmpfs; OPTS: noexec, ro, and mode=/size=
 *                                            passed to tmpfs (default mode=0755)
 *   proc         [hidepid=N]               fresh /proc of the new pid namespace
 *   chdir        PATH                      inside the new root
 *   rlimit       NAME SOFT [HARD]          NAME: AS CORE CPU DATA FSIZE MEMLOCK NOFILE
 *                                            NPROC STACK; numbers or "unlimited"
 *   landlock_ro   PATH                     read files, list dirs
 *   landlock_rw   PATH                     ro + write, create, delete, rename, truncate,
 *                                            ioctl on devices (not mknod of devices)
 *   landlock_exec PATH                     ro + execute
 *   landlock_scope signal,abstract_unix    Landlock ABI >= 6 scoping
 *                Landlock rights apply to the path's hierarchy (files and dirs below it).
 *                A path that does not exist is reported (`skip`) and skipped. Everything
 *                not granted is denied once any landlock_* directive is present: a
 *                "deny exec" is expressed by not granting landlock_exec there, a "deny
 *                read" by granting nothing. Landlock does not check mmap(PROT_EXEC): a
 *                readable file can still be mapped by the dynamic loader unless it lies on
 *                a noexec mount (bind ... noexec / tmpfs ... noexec) or is not readable.
 *   gid N, uid N                           setgroups([]), setgid, setuid (with a user
 *                                            namespace only the mapped id 0 exists)
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
 *
 * ORDER (fixed, whatever the order of lines; mount steps keep their plan order):
 *   1 pdeathsig  2 unshare  3 fork (pid namespace: the child becomes pid 1, a tiny init)
 *   4 memfd_noexec (in pid 1), then the mounts (only when the plan has any; they need
 *     `unshare mount`): / made MS_REC|MS_PRIVATE (nothing propagates to the host); every
 *     bind source cloned detached (open_tree) while the host tree is still visible; a tmpfs
 *     staged over /tmp receives the binds, tmpfs and proc at their paths IN PLAN ORDER
 *     (a parent must come before what is mounted below it; serializePlan sorts by depth);
 *     a bind source that is a symlink (merged /usr: /bin -> usr/bin) is recreated as the
 *     same symlink; pivot_root into the staged tree; the new / itself is read-only and
 *     holds nothing but what the plan put there
 *   5 hostname  6 fork the command (pid namespace only)  7 chdir  8 rlimits
 *   9 Landlock  10 capability bounding set  11 gid/uid  12 capabilities cleared
 *   13 no_new_privs (already set at 9 when the plan has it: restrict_self needs it once
 *      capabilities are gone)  14 descriptors >= 3 marked close-on-exec except keep_fd ones
 *   15 seccomp (last, just before exec)  16 exec
 *   Mounts precede Landlock (Landlock forbids later mount changes and needs final paths);
 *   seccomp is last because it forbids mount/unshare and could deny the launcher's own
 *   calls.
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
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXIT_FAIL 126
#define MAX_PLAN (1u << 20)
#define MAX_STEPS 512

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

enum kind { K_BIND_RO, K_BIND_RW, K_TMPFS, K_PROC, K_LL_RO, K_LL_RW, K_LL_EXEC };

struct step { enum kind kind; char *path; char *opts; int fd; int is_dir; char *link; };

static struct {
    int ns_flags;
    char *ns_text;
    char *hostname;
    struct step steps[MAX_STEPS];
    int nsteps;
    char *chdir;
    struct { int res; rlim_t soft, hard; char *text; } rl[16];
    int nrl;
    int has_landlock;
    char *ll_scope;
    long uid, gid; /* -1: unchanged */
    int drop_caps, nnp, seccomp, pdeathsig, memfd_noexec;
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

static void add_step(enum kind k, char *path, char *opts) {
    if (plan.nsteps >= MAX_STEPS) fail("plan", "too-many-steps", E2BIG);
    if (k != K_PROC && (!path || path[0] != '/')) fail("plan", path ? path : "-", EINVAL);
    plan.steps[plan.nsteps++] = (struct step){ .kind = k, .path = path, .opts = opts, .fd = -1 };
    if (k >= K_LL_RO) plan.has_landlock = 1;
}

static void parse_line(char *line) {
    char *key = line, *val = NULL, *opts = NULL;
    char *t = strchr(line, '\t');
    if (t) { *t = 0; val = t + 1; t = strchr(val, '\t'); if (t) { *t = 0; opts = t + 1; } }
    if ((val && !unescape(val)) || (opts && !unescape(opts))) fail("plan", key, EINVAL);
#define IS(k) (strcmp(key, k) == 0)
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
    else if (IS("bind_ro")) add_step(K_BIND_RO, val, opts);
    else if (IS("bind_rw")) add_step(K_BIND_RW, val, opts);
    else if (IS("tmpfs")) add_step(K_TMPFS, val, opts);
    else if (IS("proc")) add_step(K_PROC, NULL, val);
    else if (IS("landlock_ro")) add_step(K_LL_RO, val, opts);
    else if (IS("landlock_rw")) add_step(K_LL_RW, val, opts);
    else if (IS("landlock_exec")) add_step(K_LL_EXEC, val, opts);
    else if (IS("landlock_scope") && val) { plan.ll_scope = val; plan.has_landlock = 1; }
    else if (IS("chdir") && val && val[0] == '/') plan.chdir = val;
    else if (IS("uid") && parse_num(val, 0x7fffffff, &plan.uid)) {}
    else if (IS("gid") && parse_num(val, 0x7fffffff, &plan.gid)) {}
    else if (IS("drop_caps") && !val) plan.drop_caps = 1;
    else if (IS("no_new_privs") && !val) plan.nnp = 1;
    else if (IS("pdeathsig") && !val) plan.pdeathsig = 1;
    else if (IS("memfd_noexec") && !val) plan.memfd_noexec = 1;
    else if (IS("keep_fd") && plan.nkeep < 32) {
        long fd;
        if (!parse_num(val, INT_MAX, &fd) || fd < 3) fail("keep_fd", val ? val : "-", EINVAL);
        plan.keep_fds[plan.nkeep++] = (int)fd;
    }
    else if (IS("seccomp") && val && !strcmp(val, "deny-list")) plan.seccomp = 1;
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
            int f = openat(dfd, tok, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (f < 0) { close(dfd); free(copy); return -1; }
            close(f);
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
    static const char *n[] = {"bind_ro", "bind_rw", "tmpfs", "proc", "landlock_ro", "landlock_rw", "landlock_exec"};
    return n[k];
}

static void setup_mounts(void) {
    int any = 0;
    for (int i = 0; i < plan.nsteps; i++) if (plan.steps[i].kind <= K_PROC) any = 1;
    if (!any) return;
    if (!(plan.ns_flags & CLONE_NEWNS)) fail("mount", "needs-mount-namespace", EINVAL);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("mount", "private", errno);

    /* Sources are cloned while the host tree is still visible (STAGE hides /tmp later). */
    for (int i = 0; i < plan.nsteps; i++) {
        struct step *s = &plan.steps[i];
        if (s->kind != K_BIND_RO && s->kind != K_BIND_RW) continue;
        struct stat st;
        if (lstat(s->path, &st) < 0) {
            if (has_opt(s->opts, "optional")) { skip(kind_name(s->kind), s->path, errno); s->fd = -2; continue; }
            fail(kind_name(s->kind), s->path, errno);
        }
        if (S_ISLNK(st.st_mode)) { /* merged /usr: /bin -> usr/bin is recreated as a link */
            char target[PATH_MAX];
            ssize_t l = readlink(s->path, target, sizeof target - 1);
            if (l < 0) fail(kind_name(s->kind), s->path, errno);
            target[l] = 0;
            s->link = strdup(target);
            continue;
        }
        s->is_dir = S_ISDIR(st.st_mode);
        s->fd = open_tree(AT_FDCWD, s->path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
        if (s->fd < 0) fail(kind_name(s->kind), s->path, errno);
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
        if (s->kind > K_PROC || s->fd == -2) continue;
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
        if (s->kind == K_BIND_RO || s->kind == K_BIND_RW) {
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

struct ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct ll_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));

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
    struct ll_ruleset_attr attr = { .handled_access_fs = all };
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
        int fd = open(s->path, O_PATH | O_CLOEXEC);
        if (fd < 0) { skip(kn, s->path, errno); continue; }
        struct stat st;
        if (fstat(fd, &st) < 0) fail(kn, s->path, errno);
        struct ll_path_beneath pb = { .parent_fd = fd };
        pb.allowed_access = (s->kind == K_LL_RO ? ro : s->kind == K_LL_RW ? rw : ro | LL_EXECUTE) & all;
        if (!S_ISDIR(st.st_mode)) pb.allowed_access &= LL_FILE_RIGHTS;
        if (syscall(SYS_landlock_add_rule, rs, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0) < 0) fail(kn, s->path, errno);
        close(fd);
        report("ok", kn, s->path, NULL);
    }
    /* restrict_self needs no_new_privs or CAP_SYS_ADMIN; caps are dropped later, so set it
     * here when the plan asks for it (it is applied anyway at step 13). */
    if (plan.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs", NULL, errno);
    if (syscall(SYS_landlock_restrict_self, rs, 0) < 0) fail("landlock", "restrict_self", errno);
    close(rs);
    report("ok", "landlock", plan.ll_scope ? plan.ll_scope : NULL, NULL);
}

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
    enum { N = sizeof denied / sizeof denied[0] };
    struct sock_filter f[N + 16];
    unsigned n = 0;
#define STMT(c, k) (f[n++] = (struct sock_filter)BPF_STMT((c), (k)))
#define JUMP(c, k, t, e) (f[n++] = (struct sock_filter)BPF_JUMP((c), (k), (t), (e)))
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1); /* x32 ABI */
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    /* Layout after the list: [0] jeq clone3  [1] ret ENOSYS  [2] jeq clone  [3] ld args[0]
     * [4] jset ns-flags  [5] ret ALLOW  [6] ret EPERM. List entry i jumps to [6]. */
    for (unsigned i = 0; i < N; i++)
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], (unsigned char)(N - 1 - i + 6), 0);
    /* clone3 takes its flags in memory a filter can't read: ENOSYS makes libc fall back to
     * clone, whose flags are checked here (no new namespaces). */
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 2);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_CLONE_FLAGS, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#undef STMT
#undef JUMP
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail("seccomp", "deny-list", errno);
    report("ok", "seccomp", "deny-list", NULL);
#else
    fail("seccomp", "deny-list", ENOSYS); /* only x86_64 is implemented: fail closed */
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
        if (write_report) {
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

static void do_unshare(void) {
    if (!plan.ns_flags) return;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(plan.ns_flags) < 0) fail("unshare", plan.ns_text, errno);
    if (plan.ns_flags & CLONE_NEWUSER) {
        char map[64];
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT) fail("unshare", "setgroups", errno);
        if (write_file("/proc/self/uid_map", map) < 0) fail("unshare", "uid_map", errno);
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0) fail("unshare", "gid_map", errno);
    }
    report("ok", "unshare", plan.ns_text, NULL);
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
    if (plan.seccomp) install_seccomp();
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
    static const struct { const char *n; int f; } ns[] = {
        {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char label[32];
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

    pid_t launcher_parent = getppid();
    set_pdeathsig(launcher_parent);
    if (plan.pdeathsig) report("ok", "pdeathsig", NULL, NULL);
    do_unshare();
    if (!(plan.ns_flags & CLONE_NEWPID)) {
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
    pid_t init = fork();
    if (init < 0) fail("fork", "init", errno);
    if (init > 0) {
        child_pid = init;
        install_forwarding();
        reportn("init", NULL, init);
        int code = wait_for(init, 0);
        return code;
    }
    /* pid 1 (its parent is outside the namespace: getppid() is 0, nothing to compare) */
    (void)me;
    set_pdeathsig(0);
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
