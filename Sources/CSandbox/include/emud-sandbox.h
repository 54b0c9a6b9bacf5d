/* emud: the system calls a worker's sandbox needs, which Swift cannot call (variadic prctl and syscall).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef EMUD_SANDBOX_H
#define EMUD_SANDBOX_H
#include <stdint.h>

/* prctl(PR_SET_NO_NEW_PRIVS): no exec can grant privileges again. 0, or -errno. */
int emud_sandbox_no_new_privs(void);

/* The Landlock ABI version the kernel offers, or -errno (-ENOSYS, -EOPNOTSUPP: none). */
int emud_landlock_abi(void);

/* A Landlock ruleset restricting what `emud_landlock_handled(abi)` names; a descriptor, or -errno. */
int emud_landlock_create(int abi);

/* Lets the ruleset allow `access` (LANDLOCK_ACCESS_FS_* bits, clipped to what applies to a file when `path` is
 * not a directory) beneath `path`. 0, or -errno (a path that does not exist is -ENOENT). */
int emud_landlock_allow(int ruleset, const char *path, uint64_t access);

/* Enforces the ruleset on the calling thread and what it executes or creates from now on; closes it. */
int emud_landlock_enforce(int ruleset);

/* The access bits a worker grants: reading files and directories, and executing (plugins, libraries). */
uint64_t emud_landlock_read_execute(void);

/* The access bits a worker grants on its machine's writable drives: reading and writing the file (not truncating). */
uint64_t emud_landlock_read_write_file(void);

/* Installs, on every thread (TSYNC), a seccomp filter that refuses with EPERM the system calls a running machine
 * never needs and an attacker would: execve, ptrace, mounts, modules, kexec, bpf, namespaces, keyrings, reboot.
 * System calls of another architecture kill the process. 0, or -errno. */
int emud_seccomp_deny_dangerous(void);

/* Sends `fd` over the connected Unix socket `socket` (SCM_RIGHTS) with one byte of data. 0, or -errno. */
int emud_send_descriptor(int socket, int fd);

/* Receives one descriptor sent by emud_send_descriptor on `socket`, blocking until it comes: the descriptor
 * (not close-on-exec, so that it survives the worker's re-execution into its sandbox), or -errno (-EPIPE: the
 * peer closed the socket; -EBADMSG: data came without a descriptor). */
int emud_receive_descriptor(int socket);

#endif
