/* ptrace backend of the supervisor: see tracer.h. x86_64 only (the seccomp filter that stops
 * the calls is x86_64 only too); elsewhere every function fails closed with ENOSYS. */
#include "tracer.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/user.h>
#endif
#include <linux/ptrace.h> /* PTRACE_GET_SYSCALL_INFO and its struct (after sys/ptrace.h) */

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

/* Seccomp stops waiting for a decision, oldest first. A stopped tracee stays stopped until it
 * is answered, so the queue holds at most one entry per task. */
static pid_t *queue;
static size_t q_head, q_len, q_cap;

static void enqueue(pid_t pid) {
    if (q_head + q_len == q_cap) {
        if (q_head) { memmove(queue, queue + q_head, q_len * sizeof *queue); q_head = 0; }
        else {
            size_t cap = q_cap ? q_cap * 2 : 64;
            pid_t *p = realloc(queue, cap * sizeof *p);
            if (!p) { kill(pid, SIGKILL); return; } /* never resumed unanswered */
            queue = p;
            q_cap = cap;
        }
    }
    queue[q_head + q_len++] = pid;
}

static void forget(pid_t pid) {
    for (size_t i = 0; i < q_len; i++)
        if (queue[q_head + i] == pid) {
            memmove(queue + q_head + i, queue + q_head + i + 1, (q_len - i - 1) * sizeof *queue);
            q_len--;
            return;
        }
}

pid_t tracer_next(void) {
    if (!q_len) return 0;
    q_len--;
    return queue[q_head++];
}

int tracer_seize(pid_t pid) {
    long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    return ptrace(PTRACE_SEIZE, pid, 0, (void *)opts) < 0 ? errno : 0;
}

/* One wait status of a tracee. */
static void on_status(pid_t pid, int st) {
    if (WIFEXITED(st) || WIFSIGNALED(st)) { forget(pid); return; }
    if (!WIFSTOPPED(st)) return;
    int event = st >> 16, sig = WSTOPSIG(st);
    switch (event) {
    case PTRACE_EVENT_SECCOMP:
        enqueue(pid);
        return;
    case PTRACE_EVENT_STOP:
        /* group-stop (job control): stay stopped, but let SIGCONT be seen; else the
         * initial stop of a new tracee */
        if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) ptrace(PTRACE_LISTEN, pid, 0, 0);
        else ptrace(PTRACE_CONT, pid, 0, 0);
        return;
    case 0: /* signal-delivery-stop: the signal goes on to the tracee */
        ptrace(PTRACE_CONT, pid, 0, (void *)(long)sig);
        return;
    default: /* fork, vfork, clone, exec events */
        ptrace(PTRACE_CONT, pid, 0, 0);
    }
}

int tracer_reap(pid_t init, int *status) {
    int done = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG | __WALL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return done;
        if (w == init) {
            if (WIFEXITED(st) || WIFSIGNALED(st)) { *status = st; done = 1; }
            continue;
        }
        on_status(w, st);
    }
}

int tracer_syscall(pid_t pid, uint32_t *arch, int *nr, uint64_t args[6]) {
    struct ptrace_syscall_info info;
    memset(&info, 0, sizeof info);
    if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) < 0) return errno;
    if (info.op != PTRACE_SYSCALL_INFO_SECCOMP) return EINVAL;
    *arch = info.arch;
    *nr = (int)info.seccomp.nr;
    memcpy(args, info.seccomp.args, 6 * sizeof(uint64_t));
    return 0;
}

void tracer_answer(pid_t pid, int run, long long ret) {
#if defined(__x86_64__)
    if (!run) {
        /* syscall number -1: the kernel skips the call and returns rax as it is */
        struct user_regs_struct r;
        if (ptrace(PTRACE_GETREGS, pid, 0, &r) < 0) { if (errno != ESRCH) kill(pid, SIGKILL); return; }
        r.orig_rax = (unsigned long long)-1;
        r.rax = (unsigned long long)ret;
        if (ptrace(PTRACE_SETREGS, pid, 0, &r) < 0) { if (errno != ESRCH) kill(pid, SIGKILL); return; }
    }
    ptrace(PTRACE_CONT, pid, 0, 0);
#else
    (void)run;
    (void)ret;
    kill(pid, SIGKILL);
#endif
}

int tracer_probe(void) {
#if defined(__x86_64__)
    pid_t c = fork();
    if (c < 0) return -1;
    if (c == 0) { pause(); _exit(0); }
    int e = tracer_seize(c);
    kill(c, SIGKILL);
    while (waitpid(c, NULL, __WALL) < 0 && errno == EINTR) {}
    if (e) { errno = e; return -1; }
    return 0;
#else
    errno = ENOSYS;
    return -1;
#endif
}
