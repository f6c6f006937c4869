/*
 * The session network relay (part of agentsh-launcher; see relay.h and the `relay` directive
 * in launcher.c). The sandbox's network namespace has loopback and no route: its only ways
 * out are these listeners on 127.0.0.1, which the outer launcher (the supervisor) binds in
 * that namespace and serves from outside the sandbox's mount namespace, carrying each
 * connection to the agentsh server's unix socket. The relay decides nothing: the server
 * reads HELLO (the plan's words naming the session and the service) and decides.
 *
 *   tcp:PORT  each accepted connection → a new stream to UNIX, which first receives
 *             "HELLO\n", then the bytes both ways (half-closes passed on: a shutdown(WR)
 *             on one side becomes a shutdown(WR) on the other)
 *   udp:PORT  each datagram (at most 4096 bytes) → a new stream to UNIX receiving "HELLO\n"
 *             and the datagram with a 2-byte big-endian length (DNS-over-TCP framing); the
 *             first framed answer is sent back to the datagram's source, then the stream ends
 *
 * Bounded: at most MAX_CONNS connections and MAX_UDP datagrams in flight (beyond: the
 * listeners stop accepting until one ends; the oldest datagram is dropped); data is read
 * into one scratch buffer and only what a socket did not take is kept (then that side is
 * not read again until it is written). No timers: a datagram whose answer never comes is
 * dropped when MAX_UDP newer ones are waiting, a TCP connection lives as its ends decide
 * (the server applies idle timeouts).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "relay.h"

#define MAX_RELAYS 8
#define MAX_CONNS 8192
#define MAX_UDP 256
#define SCRATCH (64 * 1024)
#define DGRAM_MAX 4096
#define HELLO_MAX 512
#define ANS_MAX (DGRAM_MAX + 2)

enum { R_TCP, R_UDP };

struct relay {
    int kind, port, fd;
    char *hello; /* "HELLO\n" */
    size_t hello_len;
    struct sockaddr_un sun;
};

/* Bytes read from one side that the other side has not taken yet. */
struct dir { char *buf; size_t off, len; int eof, shut; };

struct conn {
    struct relay *r;
    int fd[2];          /* 0: the sandbox's end (-1 for a datagram), 1: the server's */
    struct dir d[2];    /* d[0]: sandbox → server, d[1]: server → sandbox */
    uint32_t want[2];   /* events registered for fd[s] */
    int gone[2];        /* fd[s] hung up: removed from epoll, nothing more is written to it */
    struct sockaddr_in peer;            /* datagram: where the answer goes */
    unsigned char *ans;                 /* datagram: the framed answer read so far (ANS_MAX) */
    size_t ans_n;
    struct conn *prev, *next;           /* in order of creation */
    int closed;
};

static struct relay relays[MAX_RELAYS];
static int nrelays;
static int ep = -1;
static int paused;
static int nconns, nudp;
static struct conn *head, *tail;
static char scratch[SCRATCH];

int relay_count(void) { return nrelays; }
int relay_fd(void) { return ep; }

int relay_add(const char *spec, const char *unix_path, const char *hello) {
    if (nrelays >= MAX_RELAYS || !spec || !unix_path || !hello) return EINVAL;
    struct relay *r = &relays[nrelays];
    if (!strncmp(spec, "tcp:", 4)) r->kind = R_TCP;
    else if (!strncmp(spec, "udp:", 4)) r->kind = R_UDP;
    else return EINVAL;
    char *end;
    long port = strtol(spec + 4, &end, 10);
    if (*end || port < 1 || port > 65535 || spec[4] == '+' || spec[4] == '-') return EINVAL;
    size_t pl = strlen(unix_path), hl = strlen(hello);
    if (unix_path[0] != '/' || pl >= sizeof r->sun.sun_path) return EINVAL;
    if (hl == 0 || hl > HELLO_MAX || strchr(hello, '\n')) return EINVAL;
    r->port = (int)port;
    r->fd = -1;
    r->sun.sun_family = AF_UNIX;
    memcpy(r->sun.sun_path, unix_path, pl + 1);
    r->hello = malloc(hl + 1);
    if (!r->hello) return ENOMEM;
    memcpy(r->hello, hello, hl);
    r->hello[hl] = '\n';
    r->hello_len = hl + 1;
    nrelays++;
    return 0;
}

/* epoll data: a relay index (below MAX_RELAYS) or a connection pointer with its side in bit 0. */
static int ep_set(int op, int fd, uint32_t ev, uint64_t data) {
    struct epoll_event e = { .events = ev, .data.u64 = data };
    return epoll_ctl(ep, op, fd, &e);
}

int relay_listen(const char **what) {
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { *what = "epoll"; return errno; }
    for (int i = 0; i < nrelays; i++) {
        struct relay *r = &relays[i];
        *what = r->kind == R_TCP ? "tcp" : "udp";
        r->fd = socket(AF_INET, (r->kind == R_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (r->fd < 0) return errno;
        int one = 1;
        setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(r->fd, (struct sockaddr *)&a, sizeof a) < 0) return errno;
        if (r->kind == R_TCP && listen(r->fd, 1024) < 0) return errno;
        if (ep_set(EPOLL_CTL_ADD, r->fd, EPOLLIN, (uint64_t)i) < 0) return errno;
    }
    return 0;
}

void relay_close_all(void) {
    for (int i = 0; i < nrelays; i++) if (relays[i].fd >= 0) { close(relays[i].fd); relays[i].fd = -1; }
    if (ep >= 0) { close(ep); ep = -1; }
}

static void set_paused(int on) {
    if (paused == on) return;
    paused = on;
    for (int i = 0; i < nrelays; i++) ep_set(EPOLL_CTL_MOD, relays[i].fd, on ? 0 : EPOLLIN, (uint64_t)i);
}

static int too_many(void) {
    return errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM;
}

static int server_connect(struct relay *r) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* unix stream connects complete at once; EAGAIN (backlog full) is a refusal here */
    if (connect(fd, (struct sockaddr *)&r->sun, sizeof r->sun) < 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

/* Closed connections are freed after the event batch (a later event may still name one). */
static struct conn *dead;

static void conn_close(struct conn *c) {
    if (c->closed) return;
    c->closed = 1;
    for (int s = 0; s < 2; s++) {
        if (c->fd[s] >= 0) close(c->fd[s]); /* closing removes it from epoll */
        free(c->d[s].buf);
        c->d[s].buf = NULL;
    }
    free(c->ans);
    c->ans = NULL;
    if (c->prev) c->prev->next = c->next; else head = c->next;
    if (c->next) c->next->prev = c->prev; else tail = c->prev;
    if (c->fd[0] < 0) nudp--;
    nconns--;
    c->next = dead;
    dead = c;
    set_paused(0);
}

static struct conn *conn_new(struct relay *r, int sandbox_fd, int server_fd) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->r = r;
    c->fd[0] = sandbox_fd;
    c->fd[1] = server_fd;
    c->prev = tail;
    if (tail) tail->next = c; else head = c;
    tail = c;
    nconns++;
    if (sandbox_fd < 0) nudp++;
    return c;
}

/* Adds bytes to what direction d still has to write. */
static int keep(struct dir *d, const char *p, size_t n) {
    char *b = malloc(d->len + n);
    if (!b) return -1;
    if (d->len) memcpy(b, d->buf + d->off, d->len);
    memcpy(b + d->len, p, n);
    free(d->buf);
    d->buf = b;
    d->off = 0;
    d->len += n;
    return 0;
}

/* Writes direction k's pending bytes to fd[!k]; at its end passes the half-close on. */
static int flush(struct conn *c, int k) {
    struct dir *d = &c->d[k];
    int to = c->fd[!k];
    while (d->len) {
        ssize_t w = send(to, d->buf + d->off, d->len, MSG_NOSIGNAL);
        if (w < 0) { if (errno == EINTR) continue; return errno == EAGAIN ? 0 : -1; }
        d->off += (size_t)w;
        d->len -= (size_t)w;
    }
    free(d->buf);
    d->buf = NULL;
    d->off = 0;
    if (d->eof && !d->shut && to >= 0 && !c->gone[!k]) { shutdown(to, SHUT_WR); d->shut = 1; }
    return 0;
}

/* Reads fd[k] and writes to fd[!k] until either would block (a few rounds, then others' turn). */
static int pump(struct conn *c, int k) {
    struct dir *d = &c->d[k];
    for (int round = 0; round < 16 && !d->len && !d->eof; round++) {
        ssize_t n = read(c->fd[k], scratch, SCRATCH);
        if (n < 0) { if (errno == EINTR) continue; return errno == EAGAIN ? 0 : -1; }
        if (n == 0) { d->eof = 1; return flush(c, k); }
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t w = send(c->fd[!k], scratch + done, (size_t)n - done, MSG_NOSIGNAL);
            if (w < 0) { if (errno == EINTR) continue; if (errno == EAGAIN) break; return -1; }
            done += (size_t)w;
        }
        if (done < (size_t)n && keep(d, scratch + done, (size_t)n - done) < 0) return -1;
    }
    return 0;
}

/* Registers what each side waits for; ends the connection when nothing is left to carry. */
static void update(struct conn *c) {
    if (c->d[0].eof && !c->d[0].len && c->d[1].eof && !c->d[1].len) { conn_close(c); return; }
    for (int s = 0; s < 2; s++) {
        if (c->fd[s] < 0 || c->gone[s]) continue;
        uint32_t ev = 0;
        if (!c->d[s].eof && !c->d[s].len) ev |= EPOLLIN;
        if (c->d[!s].len) ev |= EPOLLOUT;
        if (ev != c->want[s]) {
            ep_set(EPOLL_CTL_MOD, c->fd[s], ev, (uint64_t)(uintptr_t)c | (uint64_t)s);
            c->want[s] = ev;
        }
    }
}

static void tcp_event(struct conn *c, int s, uint32_t ev) {
    if (ev & EPOLLERR) { conn_close(c); return; }
    if ((ev & EPOLLOUT) && flush(c, !s) < 0) { conn_close(c); return; }
    if (ev & EPOLLHUP) {
        /* fd[s] is shut both ways (a hang-up is reported until it is closed): take what is
         * left to read, write nothing more to it, and stop hearing about it */
        for (;;) {
            ssize_t n = read(c->fd[s], scratch, SCRATCH);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno != EAGAIN) { conn_close(c); return; }
            if (n <= 0) break;
            if (keep(&c->d[s], scratch, (size_t)n) < 0) { conn_close(c); return; }
        }
        c->d[s].eof = 1;
        c->gone[s] = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd[s], NULL);
        free(c->d[!s].buf);
        c->d[!s].buf = NULL;
        c->d[!s].len = 0;
        c->d[!s].eof = 1;
        if (flush(c, s) < 0) { conn_close(c); return; }
    } else if ((ev & EPOLLIN) && pump(c, s) < 0) { conn_close(c); return; }
    update(c);
}

static void tcp_accept(struct relay *r) {
    for (int i = 0; i < 64; i++) {
        if (nconns >= MAX_CONNS) { set_paused(1); return; }
        int a = accept4(r->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (a < 0) { if (too_many()) set_paused(1); return; }
        int b = server_connect(r);
        if (b < 0) { int full = too_many(); close(a); if (full) { set_paused(1); return; } continue; }
        struct conn *c = conn_new(r, a, b);
        if (!c) { close(a); close(b); set_paused(1); return; }
        if (keep(&c->d[0], r->hello, r->hello_len) < 0) { conn_close(c); return; }
        if (ep_set(EPOLL_CTL_ADD, a, 0, (uint64_t)(uintptr_t)c) < 0 || ep_set(EPOLL_CTL_ADD, b, 0, (uint64_t)(uintptr_t)c | 1) < 0) { conn_close(c); continue; }
        /* the hello goes out first; the client is read once it is written */
        if (flush(c, 0) < 0) { conn_close(c); continue; }
        update(c);
    }
}

static void udp_event(struct conn *c, uint32_t ev) {
    if (ev & EPOLLERR) { conn_close(c); return; }
    if ((ev & EPOLLOUT) && flush(c, 0) < 0) { conn_close(c); return; }
    if (ev & (EPOLLIN | EPOLLHUP)) {
        for (;;) {
            ssize_t n = read(c->fd[1], c->ans + c->ans_n, ANS_MAX - c->ans_n);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) { conn_close(c); return; } /* ended before a whole answer */
            c->ans_n += (size_t)n;
            size_t want = c->ans_n >= 2 ? 2 + (((size_t)c->ans[0] << 8) | c->ans[1]) : 0;
            if (want > ANS_MAX) { conn_close(c); return; } /* larger than a datagram answer may be */
            if (want && c->ans_n >= want) {
                sendto(c->r->fd, c->ans + 2, want - 2, MSG_NOSIGNAL, (struct sockaddr *)&c->peer, sizeof c->peer);
                conn_close(c);
                return;
            }
            if (c->ans_n == ANS_MAX) { conn_close(c); return; }
        }
    }
    uint32_t want = c->d[0].len ? EPOLLOUT : EPOLLIN;
    if (want != c->want[1]) { ep_set(EPOLL_CTL_MOD, c->fd[1], want, (uint64_t)(uintptr_t)c | 1); c->want[1] = want; }
}

static void udp_read(struct relay *r) {
    unsigned char msg[HELLO_MAX + 2 + DGRAM_MAX + 1];
    for (int i = 0; i < 16; i++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        memcpy(msg, r->hello, r->hello_len);
        unsigned char *p = msg + r->hello_len + 2;
        ssize_t n = recvfrom(r->fd, p, DGRAM_MAX + 1, 0, (struct sockaddr *)&peer, &pl);
        if (n < 0) return;
        if (n == 0 || n > DGRAM_MAX || pl != sizeof peer || peer.sin_family != AF_INET) continue;
        if (nudp >= MAX_UDP) {
            struct conn *old = head;
            while (old && old->fd[0] >= 0) old = old->next;
            if (old) conn_close(old);
        }
        if (nconns >= MAX_CONNS) continue;
        int b = server_connect(r);
        if (b < 0) continue;
        struct conn *c = conn_new(r, -1, b);
        if (!c) { close(b); continue; }
        c->peer = peer;
        c->ans = malloc(ANS_MAX);
        p[-2] = (unsigned char)(n >> 8);
        p[-1] = (unsigned char)n;
        c->gone[0] = 1;
        if (!c->ans || keep(&c->d[0], (char *)msg, r->hello_len + 2 + (size_t)n) < 0 || ep_set(EPOLL_CTL_ADD, b, 0, (uint64_t)(uintptr_t)c | 1) < 0) { conn_close(c); continue; }
        udp_event(c, EPOLLOUT);
    }
}

void relay_run(void) {
    struct epoll_event ev[64];
    int n = epoll_wait(ep, ev, 64, 0);
    for (int i = 0; i < n; i++) {
        uint64_t data = ev[i].data.u64;
        if (data < MAX_RELAYS) {
            struct relay *r = &relays[data];
            if (r->kind == R_TCP) tcp_accept(r); else udp_read(r);
            continue;
        }
        struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)1);
        if (c->closed) continue;
        if (c->fd[0] < 0) udp_event(c, ev[i].events);
        else tcp_event(c, (int)(data & 1), ev[i].events);
    }
    while (dead) { struct conn *d = dead; dead = d->next; free(d); }
}
