/* The session network relay of the launcher (relay.c): listeners inside the sandbox's network
 * namespace whose connections are carried to the agentsh server over a unix socket. */
#ifndef AGENTSH_RELAY_H
#define AGENTSH_RELAY_H

/* Plan directive `relay SPEC UNIX HELLO`: returns 0, or an errno (EINVAL: bad spec/path). */
int relay_add(const char *spec, const char *unix_path, const char *hello);
int relay_count(void);
/* In the new network namespace (loopback up): binds every listener. Returns 0, or an errno
 * with *what set to the spec that failed. */
int relay_listen(const char **what);
/* The epoll descriptor to poll for POLLIN (-1 before relay_listen). */
int relay_fd(void);
/* Handles every ready event without blocking. */
void relay_run(void);
/* Closes every relay descriptor (a forked child that must not hold them). */
void relay_close_all(void);

#endif
