/*
 * agentsh shell shim: installed over /bin/bash, /bin/sh and zsh. It makes no policy
 * decision: it forwards the shell invocation to the agentsh server over a unix socket and
 * relays stdin, stdout, stderr, signals and the exit status. Protocol and decision order:
 * docs/shim-protocol.md (authoritative).
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -o agentsh-shim shim.c
 *
 * Start-up matters (this runs for every `bash` on the machine): no stdio, no locale, no
 * allocation on the pass-through paths; one malloc for the hello frame otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define EXIT_REFUSED 126
#define MAX_FRAME (1u << 20)       /* any frame from the server */
#define MAX_HELLO (16u << 20)      /* the H frame (argv + env, escaped) */
#define DATA_CHUNK 65536u          /* I frames */
#define DEFAULT_RUN_DIR "/run/agentsh"
#define DEFAULT_BIN "/usr/local/bin/agentsh"
#define DEFAULT_START_TIMEOUT_MS 5000L

/* `agentsh shim install-shell` recognises an installed shim by this string. */
__attribute__((used)) static const char shim_marker[] = "agentsh-shim-marker:v1";

/* ---------------------------------------------------------------- messages */

/* Writes the concatenation of the NULL-terminated string list to stderr and exits 126. */
static void refuse(const char *first, ...) {
    char msg[4096];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        while (*s && n < sizeof msg - 2) msg[n++] = *s++;
    va_end(ap);
    msg[n++] = '\n';
    for (size_t off = 0; off < n;) {
        ssize_t w = write(2, msg + off, n - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else break;
    }
    _exit(EXIT_REFUSED);
}

static char *utoa(unsigned long v, char *end) { /* writes backwards, returns start */
    *--end = 0;
    do { *--end = (char)('0' + v % 10); v /= 10; } while (v);
    return end;
}

/* Strict decimal: digits only, 1..max. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out) {
    unsigned long v = 0;
    if (!s || !*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max) return 0;
    }
    *out = v;
    return 1;
}

/* ---------------------------------------------------------------- the real shell */

static void exec_real(const char *real, char **argv) {
    execv(real, argv);
    if (errno == ENOENT) refuse("agentsh: real shell ", real, " not found; command refused", NULL);
    refuse("agentsh: cannot execute real shell ", real, ": ", strerror(errno), "; command refused", NULL);
}

/* ---------------------------------------------------------------- already governed? */

static int read_server_pid(const char *run, unsigned long *pid) {
    char path[PATH_MAX];
    size_t rl = strlen(run);
    if (rl + sizeof "/server.pid" > sizeof path) return 0;
    memcpy(path, run, rl);
    memcpy(path + rl, "/server.pid", sizeof "/server.pid");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return 0;
    char buf[32];
    ssize_t n;
    do n = read(fd, buf, sizeof buf - 1); while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) return 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r' || buf[n - 1] == '\t')) n--;
    buf[n] = 0;
    return parse_ulong(buf, 0x7fffffffUL, pid) && *pid > 0;
}

/* True only if AGENTSH_GOVERNED_FD names one end of a unix socketpair (an unnamed peer)
 * whose creator is the process in <run>/server.pid. The unnamed-peer test matters: a
 * socket *connected* to one of the server's listening sockets also reports the server as
 * its peer, and anyone allowed to use the shim socket can make one. */
static int already_governed(const char *fdvar, const char *run) {
    unsigned long fd, spid;
    struct stat st;
    int dom;
    struct ucred cr;
    struct sockaddr_un peer;
    socklen_t len;
    if (!parse_ulong(fdvar, 1023, &fd) || fd < 3) return 0;
    if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    len = sizeof dom;
    if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) != 0 || dom != AF_UNIX) return 0;
    len = sizeof peer;
    if (getpeername((int)fd, (struct sockaddr *)&peer, &len) != 0 || len != sizeof(sa_family_t)) return 0;
    len = sizeof cr;
    if (getsockopt((int)fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || cr.pid <= 0) return 0;
    if (!read_server_pid(run, &spid)) return 0;
    return (unsigned long)cr.pid == spid;
}

/* A run directory we may believe: owned by root or by us, writable by nobody else. A
 * directory an agent made for itself (AGENTSH_RUN_DIR is environment, the caller's to set)
 * would let it claim anything. */
static int trusted_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 022)) return 0;
    return st.st_uid == 0 || st.st_uid == geteuid();
}

/* A program we may start: the file and its directory owned by root or by us and writable by
 * nobody else (symlinks resolved). */
static int trusted_program(const char *bin) {
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(bin, real)) return errno == ENOENT; /* missing: starting it fails and says so */
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 022)) return 0;
    if (st.st_uid != 0 && st.st_uid != geteuid()) return 0;
    char *slash = strrchr(real, '/');
    if (!slash) return 0;
    if (slash == real) slash[1] = 0; else *slash = 0;
    return trusted_dir(real);
}

/* True inside a session sandbox: our pid namespace is not the server's (recorded by the
 * server in <run>/server.pidns). Every exec there is already checked by the kernel-side
 * interception (seccomp user-notify), so the real shell runs directly. Outside a sandbox
 * an agent cannot make a pid namespace of its own: everything it runs goes through this
 * shim into a sandbox whose seccomp filter refuses unshare/clone(CLONE_NEWPID). */
static int in_session_sandbox(const char *run) {
    char path[PATH_MAX], want[64], have[64];
    size_t rl = strlen(run);
    if (!trusted_dir(run) || rl + sizeof "/server.pidns" > sizeof path) return 0;
    memcpy(path, run, rl);
    memcpy(path + rl, "/server.pidns", sizeof "/server.pidns");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) return 0;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !(st.st_mode & 022) && (st.st_uid == 0 || st.st_uid == geteuid()))
        do n = read(fd, want, sizeof want - 1); while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) return 0;
    while (n > 0 && (want[n - 1] == '\n' || want[n - 1] == ' ')) n--;
    want[n] = 0;
    ssize_t h = readlink("/proc/self/ns/pid", have, sizeof have - 1);
    if (h <= 0 || strncmp(want, "pid:[", 5) != 0) return 0;
    have[h] = 0;
    return strcmp(want, have) != 0;
}

/* ---------------------------------------------------------------- reaching the server */

static int connect_once(const struct sockaddr_un *sa) {
    for (;;) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) return -1;
        if (connect(s, (const struct sockaddr *)sa, sizeof *sa) == 0) return s;
        int e = errno;
        close(s);
        errno = e;
        if (e != EINTR) return -1;
    }
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Starts `<bin> server` detached (double fork, setsid, stdio on /dev/null, no other
 * descriptors, cwd /). Returns 0 if the exec succeeded, else an errno value. */
static int start_server(const char *bin) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return errno;
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (c == 0) {
        close(p[0]);
        setsid();
        pid_t g = fork();
        if (g != 0) {
            if (g < 0) { int e = errno; ssize_t w = write(p[1], &e, sizeof e); (void)w; }
            _exit(0);
        }
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
            if (nul > 2) close(nul);
        }
        /* Nothing of the caller's (its pipes, AGENTSH_GOVERNED_FD...) may stay open in the
         * server: mark every other descriptor close-on-exec (the status pipe already is). */
        int marked = 0;
#if defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
        marked = syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0;
#elif defined(SYS_close_range)
        marked = syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) == 0;
#endif
        if (!marked) {
            long max = sysconf(_SC_OPEN_MAX);
            if (max < 0 || max > 65536) max = 65536;
            for (int fd = 3; fd < max; fd++)
                if (fd != p[1]) fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir("/") != 0) {}
        execl(bin, bin, "server", (char *)NULL);
        int e = errno;
        ssize_t w = write(p[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(p[1]);
    while (waitpid(c, NULL, 0) < 0 && errno == EINTR) {}
    int e = 0;
    ssize_t n;
    do n = read(p[0], &e, sizeof e); while (n < 0 && errno == EINTR);
    close(p[0]);
    return n == (ssize_t)sizeof e ? (e ? e : EIO) : 0;
}

static int reach_server(const char *run, struct sockaddr_un *sa) {
    char ubuf[24];
    const char *uid = utoa((unsigned long)getuid(), ubuf + sizeof ubuf);
    size_t rl = strlen(run), ul = strlen(uid);
    size_t need = rl + sizeof "/shim-" - 1 + ul + sizeof ".sock";
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (need > sizeof sa->sun_path)
        refuse("agentsh: cannot reach the agentsh server (", run, "/shim-", uid, ".sock): socket path too long; command refused", NULL);
    char *p = sa->sun_path;
    memcpy(p, run, rl); p += rl;
    memcpy(p, "/shim-", 6); p += 6;
    memcpy(p, uid, ul); p += ul;
    memcpy(p, ".sock", sizeof ".sock");

    int s = connect_once(sa);
    if (s >= 0) return s;
    int err = errno;
    if (err != ENOENT && err != ECONNREFUSED)
        refuse("agentsh: cannot reach the agentsh server (", sa->sun_path, "): ", strerror(err), "; command refused", NULL);

    /* Nobody listening: start the server once and wait for it. AGENTSH_BIN is environment,
     * which the caller (an agent, through a toolbox API) may set: the program must be one the
     * agent cannot have written, or the shim would start the agent's own code ungoverned. */
    const char *bin = getenv("AGENTSH_BIN");
    if (!bin || !*bin) bin = DEFAULT_BIN;
    if (!trusted_program(bin))
        refuse("agentsh: cannot reach the agentsh server (", sa->sun_path, "): ", strerror(err), "; not starting `", bin,
               " server`: it (or its directory) is writable by others or owned by another user; command refused", NULL);
    int serr = start_server(bin);
    if (serr)
        refuse("agentsh: cannot reach the agentsh server (", sa->sun_path, "): ", strerror(err), "; starting `", bin,
               " server` failed: ", strerror(serr), "; command refused", NULL);
    unsigned long timeout = DEFAULT_START_TIMEOUT_MS;
    unsigned long t;
    if (parse_ulong(getenv("AGENTSH_SHIM_START_TIMEOUT_MS"), 600000UL, &t)) timeout = t;
    long deadline = now_ms() + (long)timeout, delay = 1;
    for (;;) {
        s = connect_once(sa);
        if (s >= 0) return s;
        err = errno;
        long left = deadline - now_ms();
        if (left <= 0) break;
        sleep_ms(delay < left ? delay : left);
        if (delay < 50) delay *= 2;
    }
    char tbuf[24];
    refuse("agentsh: cannot reach the agentsh server (", sa->sun_path, "): ", strerror(err), "; started `", bin,
           " server` but it was not reachable within ", utoa(timeout, tbuf + sizeof tbuf), " ms; command refused", NULL);
    return -1;
}

/* ---------------------------------------------------------------- the hello frame */

/* JSON strings with "enc":"latin1": every byte >= 0x7f and every control byte becomes
 * \u00XX (\n \t \r \" \\ short forms), so the string's code points are the bytes and the
 * server recovers them exactly with Buffer.from(str, 'latin1'). */
static char short_escape(unsigned char c) {
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\n': return 'n';
    case '\t': return 't';
    case '\r': return 'r';
    default: return 0;
    }
}

static size_t json_len(const char *s) {
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += short_escape(*p) ? 2 : (*p < 0x20 || *p >= 0x7f) ? 6 : 1;
    return n;
}

static char *json_put(char *o, const char *s) {
    static const char hex[] = "0123456789abcdef";
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e = short_escape(*p);
        if (e) { *o++ = '\\'; *o++ = e; }
        else if (*p < 0x20 || *p >= 0x7f) {
            memcpy(o, "\\u00", 4); o += 4;
            *o++ = hex[*p >> 4]; *o++ = hex[*p & 15];
        } else *o++ = (char)*p;
    }
    *o++ = '"';
    return o;
}

static char *raw(char *o, const char *s) {
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

#define H0 "{\"v\":1,\"enc\":\"latin1\",\"argv\":["
#define H1 "],\"real_shell\":"
#define H2 ",\"cwd\":"
#define H3 ",\"env\":["
#define H4 "],\"stdin_tty\":"
#define H5 ",\"stdout_tty\":"
#define H6 "}"

/* Returns the whole frame (header included) in one allocation; *len is its size. */
static char *build_hello(char **argv, const char *real, const char *cwd, int in_tty, int out_tty, size_t *len) {
    size_t n = sizeof H0 + sizeof H1 + sizeof H2 + sizeof H3 + sizeof H4 + sizeof H5 + sizeof H6 + 2 * 5;
    for (char **a = argv; *a; a++) n += json_len(*a) + 1;
    for (char **e = environ; e && *e; e++) n += json_len(*e) + 1;
    n += json_len(real) + json_len(cwd);
    if (n > MAX_HELLO) {
        char b[24];
        refuse("agentsh: arguments and environment too large for the agentsh server (", utoa(n, b + sizeof b),
               " bytes encoded); command refused", NULL);
    }
    char *buf = malloc(5 + n);
    if (!buf) refuse("agentsh: out of memory; command refused", NULL);
    char *o = buf + 5;
    o = raw(o, H0);
    for (char **a = argv; *a; a++) { if (a != argv) *o++ = ','; o = json_put(o, *a); }
    o = raw(o, H1);
    o = json_put(o, real);
    o = raw(o, H2);
    o = json_put(o, cwd);
    o = raw(o, H3);
    for (char **e = environ; e && *e; e++) { if (e != environ) *o++ = ','; o = json_put(o, *e); }
    o = raw(o, H4);
    o = raw(o, in_tty ? "true" : "false");
    o = raw(o, H5);
    o = raw(o, out_tty ? "true" : "false");
    o = raw(o, H6);
    size_t pl = (size_t)(o - (buf + 5));
    buf[0] = 'H';
    buf[1] = (char)(pl >> 24); buf[2] = (char)(pl >> 16); buf[3] = (char)(pl >> 8); buf[4] = (char)pl;
    *len = 5 + pl;
    return buf;
}

/* ---------------------------------------------------------------- relay */

static int sock = -1;
static int sig_r = -1, sig_w = -1;
static int sock_wdead; /* the server stopped reading: drop what we would send */
static int out_dead[3]; /* [1] stdout, [2] stderr closed by the reader */

static unsigned char obuf[5 + DATA_CHUNK + 6 * 64]; /* frames to the server */
static size_t olen, ooff;
static unsigned char rbuf[5 + MAX_FRAME]; /* frames from the server */
static size_t rlen;

static void on_signal(int sig) {
    int e = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sig_w, &b, 1);
    (void)w;
    errno = e;
}

static void lost(void) {
    refuse("agentsh: lost connection to the agentsh server; command outcome unknown", NULL);
}

/* Non-blocking: sends what the socket accepts now. */
static void flush_out(void) {
    while (ooff < olen && !sock_wdead) {
        ssize_t n = write(sock, obuf + ooff, olen - ooff);
        if (n > 0) ooff += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        else sock_wdead = 1; /* keep reading: the server may already have sent X */
    }
    ooff = olen = 0;
}

static void queue_frame(unsigned char type, const unsigned char *p, size_t n) {
    if (sock_wdead || olen + 5 + n > sizeof obuf) return; /* K frames beyond 64 pending are coalesced away */
    obuf[olen] = type;
    obuf[olen + 1] = (unsigned char)(n >> 24); obuf[olen + 2] = (unsigned char)(n >> 16);
    obuf[olen + 3] = (unsigned char)(n >> 8); obuf[olen + 4] = (unsigned char)n;
    if (n) memcpy(obuf + olen + 5, p, n);
    olen += 5 + n;
}

/* Turns pending signals into K frames (never blocks). */
static void pump_signals(void) {
    unsigned char sigs[64];
    ssize_t n;
    while ((n = read(sig_r, sigs, sizeof sigs)) > 0)
        for (ssize_t i = 0; i < n; i++) queue_frame('K', &sigs[i], 1);
    flush_out();
}

/* Writes all of buf to fd 1 or 2; a reader that went away is not an error (we keep draining
 * the socket so the server is not blocked). Signals arriving meanwhile are forwarded. */
static void out_write(int fd, const unsigned char *p, size_t n) {
    while (n && !out_dead[fd]) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            if (n) pump_signals();
        } else if (w < 0 && errno == EINTR) {
            pump_signals();
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf[2] = { { fd, POLLOUT, 0 }, { sig_r, POLLIN, 0 } };
            if (poll(pf, 2, -1) > 0 && (pf[1].revents & POLLIN)) pump_signals();
        } else {
            out_dead[fd] = 1;
        }
    }
}

static void handle_frame(unsigned char type, const unsigned char *p, uint32_t n) {
    switch (type) {
    case 'O': out_write(1, p, n); break;
    case 'E': out_write(2, p, n); break;
    case 'X': {
        if (n != 4) refuse("agentsh: protocol error from the agentsh server (bad exit frame); command outcome unknown", NULL);
        uint32_t st = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (st > 255) refuse("agentsh: protocol error from the agentsh server (exit status out of range); command outcome unknown", NULL);
        _exit((int)st);
    }
    default: break; /* unknown server frames are ignored (forward compatibility) */
    }
}

static void read_sock(void) {
    ssize_t n = read(sock, rbuf + rlen, sizeof rbuf - rlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) lost(); /* EOF or reset without an X frame */
    rlen += (size_t)n;
    size_t off = 0;
    while (rlen - off >= 5) {
        const unsigned char *h = rbuf + off;
        uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
        if (len > MAX_FRAME) refuse("agentsh: protocol error from the agentsh server (oversized frame); command outcome unknown", NULL);
        if (rlen - off - 5 < len) break;
        handle_frame(h[0], h + 5, len);
        off += 5 + (size_t)len;
    }
    if (off) {
        memmove(rbuf, rbuf + off, rlen - off);
        rlen -= off;
    }
}

/* Blocking-with-poll send of the hello frame (the server reads it before anything else). */
static void send_all(const char *p, size_t n) {
    while (n) {
        ssize_t w = write(sock, p, n);
        if (w > 0) { p += w; n -= (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = { sock, POLLOUT, 0 };
            poll(&pf, 1, -1);
            continue;
        }
        /* The server hung up before reading the hello: it may have said why. */
        sock_wdead = 1;
        return;
    }
}

static void relay(void) {
    int stdin_done = 0;
    for (;;) {
        struct pollfd pf[3];
        nfds_t nf = 2;
        pf[0].fd = sock;
        pf[0].events = POLLIN | (ooff < olen && !sock_wdead ? POLLOUT : 0);
        pf[1].fd = sig_r;
        pf[1].events = POLLIN;
        /* Read stdin only when the previous frame is gone: the socket is never written
         * blocking, so a server applying back-pressure can always send us output. */
        if (!stdin_done && olen == 0 && !sock_wdead) {
            pf[2].fd = 0;
            pf[2].events = POLLIN;
            nf = 3;
        }
        for (nfds_t i = 0; i < nf; i++) pf[i].revents = 0;
        if (poll(pf, nf, -1) < 0) {
            if (errno == EINTR) continue;
            lost();
        }
        if (pf[1].revents & POLLIN) pump_signals();
        if (pf[0].revents & POLLOUT) flush_out();
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) read_sock();
        if (nf == 3 && pf[2].revents && olen == 0) {
            ssize_t n = (pf[2].revents & POLLNVAL) ? 0 : read(0, obuf + 5, DATA_CHUNK);
            if (n > 0) {
                obuf[0] = 'I';
                obuf[1] = 0; obuf[2] = (unsigned char)((size_t)n >> 16);
                obuf[3] = (unsigned char)((size_t)n >> 8); obuf[4] = (unsigned char)n;
                olen = 5 + (size_t)n;
                flush_out();
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
                stdin_done = 1;
                queue_frame('i', NULL, 0);
                flush_out();
            }
        }
    }
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    static char *no_argv[] = { NULL };
    if (argc < 1 || !argv) argv = no_argv;

    /* The real shell: our own path (canonical, from the kernel) + ".real". */
    char real[PATH_MAX + 8];
    ssize_t rl = readlink("/proc/self/exe", real, PATH_MAX);
    if (rl <= 0 || rl >= PATH_MAX)
        refuse("agentsh: cannot resolve the shim's own path (/proc/self/exe); command refused", NULL);
    memcpy(real + rl, ".real", sizeof ".real");

    const char *run = getenv("AGENTSH_RUN_DIR");
    if (!run || !*run) run = DEFAULT_RUN_DIR;

    /* 1. Inside a command the server launched: run the real shell. */
    if (in_session_sandbox(run)) exec_real(real, argv);
    const char *gfd = getenv("AGENTSH_GOVERNED_FD");
    if (gfd && already_governed(gfd, run)) exec_real(real, argv);

    /* 2. Not forced and not interactive: run the real shell. */
    const char *force = getenv("AGENTSH_SHIM_FORCE");
    int forced = force && force[0] == '1' && force[1] == 0;
    int in_tty = isatty(0);
    if (!forced && !in_tty) exec_real(real, argv);

    /* 3. Governed: the server runs the command. */
    if (access(real, X_OK) != 0) {
        if (errno == ENOENT) refuse("agentsh: real shell ", real, " not found; command refused", NULL);
        refuse("agentsh: cannot execute real shell ", real, ": ", strerror(errno), "; command refused", NULL);
    }
    /* A closed 0/1/2 must not become our socket: park /dev/null there. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
            refuse("agentsh: cannot open /dev/null; command refused", NULL);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        refuse("agentsh: cannot determine the current directory: ", strerror(errno), "; command refused", NULL);

    size_t hl;
    char *hello = build_hello(argv, real, cwd, in_tty, isatty(1), &hl);
    struct sockaddr_un sa;
    sock = reach_server(run, &sa);

    int sp[2];
    if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) != 0) refuse("agentsh: cannot create a pipe: ", strerror(errno), "; command refused", NULL);
    sig_r = sp[0];
    sig_w = sp[1];
    struct sigaction sa_sig;
    memset(&sa_sig, 0, sizeof sa_sig);
    sa_sig.sa_handler = on_signal;
    sigfillset(&sa_sig.sa_mask);
    sa_sig.sa_flags = 0; /* no SA_RESTART: a blocked write to stdout returns, and we forward */
    static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaction(fwd[i], &sa_sig, NULL);
    signal(SIGPIPE, SIG_IGN);
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);

    send_all(hello, hl);
    free(hello);
    relay();
    return EXIT_REFUSED;
}
