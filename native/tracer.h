/* The ptrace backend of the launcher's supervisor (tracer.c): where seccomp user-notify is
 * unavailable (a runtime already holds a listener: NEW_LISTENER fails with EBUSY), the same
 * syscalls stop with SECCOMP_RET_TRACE and the supervisor, their tracer, answers them. Only
 * the mechanics live here; launcher.c builds the requests and applies the server's verdicts
 * exactly as for user-notify. */
#ifndef AGENTSH_TRACER_H
#define AGENTSH_TRACER_H
#include <stdint.h>
#include <sys/types.h>

/* PTRACE_SEIZE with the options the backend needs: every fork/vfork/clone followed, seccomp
 * stops, exec events, and EXITKILL (the tracer's death kills the tree, never frees it).
 * 0 or an errno. */
int tracer_seize(pid_t pid);

/* Collects every wait status without blocking (call on SIGCHLD): tracee stops that need no
 * decision are resumed at once, seccomp stops are queued. `init` is the supervisor's own child
 * (not traced): returns 1 and sets *status when it has ended, else 0. */
int tracer_reap(pid_t init, int *status);

/* The oldest queued seccomp stop (0: none), removed from the queue. */
pid_t tracer_next(void);

/* The stopped call of a tracee in a seccomp stop: 0 or an errno (ESRCH: it is gone). */
int tracer_syscall(pid_t pid, uint32_t *arch, int *nr, uint64_t args[6]);

/* Resumes a tracee in a seccomp stop: run the call, or skip it with `ret` as its result
 * (-errno for an error). A tracee whose call cannot be skipped is killed, never let through. */
void tracer_answer(pid_t pid, int run, long long ret);

/* --probe: can this process seize a child of its own? 0 or -1 with errno. */
int tracer_probe(void);

#endif
