/* Test fixture: runs a program the way a restricted sandbox runtime would, by installing a
 * seccomp filter that every descendant inherits (as Daytona's runtime, Docker's default
 * profile or gVisor do). Not part of agentsh.
 *
 *   restrict [--busy-listener] [--deny-ptrace] [--deny-userns] -- PROGRAM ARGS...
 *
 *   --busy-listener  the filter is installed with a user-notify listener that this process
 *                    keeps open (it notifies nothing): a later SECCOMP_FILTER_FLAG_NEW_LISTENER
 *                    anywhere below fails with EBUSY, as where the runtime holds one
 *   --deny-ptrace    ptrace(2) fails with EPERM
 *   --deny-userns    unshare/clone with CLONE_NEWUSER fail with EPERM, clone3 with ENOSYS
 *
 * With a listener the program runs in a child and this process waits (it must keep the
 * listener open), forwarding SIGTERM/SIGINT/SIGHUP and exiting with the child's status. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;
static void forward(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv) {
    int busy = 0, no_ptrace = 0, no_userns = 0, i = 1;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--busy-listener")) busy = 1;
        else if (!strcmp(argv[i], "--deny-ptrace")) no_ptrace = 1;
        else if (!strcmp(argv[i], "--deny-userns")) no_userns = 1;
        else { fprintf(stderr, "restrict: unknown option %s\n", argv[i]); return 2; }
    }
    if (i + 1 >= argc) { fprintf(stderr, "usage: restrict [options] -- PROGRAM ARGS...\n"); return 2; }
#if defined(__x86_64__)
    struct sock_filter f[32];
    unsigned n = 0;
#define ADD(x) (f[n++] = (struct sock_filter)x)
    ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    if (no_ptrace) {
        ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 0, 1));
        ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    }
    if (no_userns) {
        ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1));
        ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
        ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 1, 0));
        ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3));
        ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
        ADD(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1));
        ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    }
    ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
#undef ADD
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    if (geteuid() != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) { perror("restrict: no_new_privs"); return 2; }
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, busy ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
    if (fd < 0) { perror("restrict: seccomp"); return 2; }
#else
    fprintf(stderr, "restrict: x86_64 only\n");
    return 2;
#endif
    if (!busy) { execvp(argv[i + 1], argv + i + 1); perror("restrict: exec"); return 127; }
    child = fork();
    if (child < 0) { perror("restrict: fork"); return 2; }
    if (child == 0) { execvp(argv[i + 1], argv + i + 1); perror("restrict: exec"); _exit(127); }
    signal(SIGTERM, forward);
    signal(SIGINT, forward);
    signal(SIGHUP, forward);
    int st;
    while (waitpid(child, &st, 0) < 0) if (errno != EINTR) return 2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
