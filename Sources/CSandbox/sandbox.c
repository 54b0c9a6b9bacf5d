/* emud: the system calls a worker's sandbox needs. SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "emud-sandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Debian 12's kernel headers predate Landlock ABI 3; the bit is the kernel's, not ours. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

int emud_sandbox_no_new_privs(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

int emud_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

/* Everything a file-system rule can restrict, except making sockets and removing files: a worker binds and
 * removes unix sockets for gdb and for its daemon wherever it was told to. */
static uint64_t handled(int abi)
{
    uint64_t bits = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                    LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2) bits |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) bits |= LANDLOCK_ACCESS_FS_TRUNCATE;
    return bits;
}

int emud_landlock_create(int abi)
{
    struct landlock_ruleset_attr attr = { .handled_access_fs = handled(abi) };
    long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    return fd < 0 ? -errno : (int)fd;
}

uint64_t emud_landlock_read_execute(void)
{
    return LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
}

uint64_t emud_landlock_read_write_file(void)
{
    return LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
}

int emud_landlock_allow(int ruleset, const char *path, uint64_t access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISDIR(info.st_mode))
        access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                  LANDLOCK_ACCESS_FS_TRUNCATE;
    struct landlock_path_beneath_attr rule = { .allowed_access = access, .parent_fd = fd };
    long result = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int e = errno;
    close(fd);
    return result < 0 ? -e : 0;
}

int emud_landlock_enforce(int ruleset)
{
    long result = syscall(SYS_landlock_restrict_self, ruleset, 0);
    int e = errno;
    close(ruleset);
    return result < 0 ? -e : 0;
}

#if defined(__x86_64__)
#define EMUD_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define EMUD_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int emud_seccomp_deny_dangerous(void)
{
#ifndef EMUD_AUDIT_ARCH
    return -ENOSYS;
#else
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EMUD_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        /* x32 system calls share the architecture number; a worker never makes them. */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
        DENY(SYS_execve), DENY(SYS_execveat), DENY(SYS_ptrace), DENY(SYS_process_vm_readv),
        DENY(SYS_process_vm_writev), DENY(SYS_mount), DENY(SYS_umount2), DENY(SYS_pivot_root), DENY(SYS_chroot),
        DENY(SYS_kexec_load), DENY(SYS_kexec_file_load), DENY(SYS_init_module), DENY(SYS_finit_module),
        DENY(SYS_delete_module), DENY(SYS_bpf), DENY(SYS_unshare), DENY(SYS_setns), DENY(SYS_keyctl),
        DENY(SYS_add_key), DENY(SYS_request_key), DENY(SYS_reboot), DENY(SYS_swapon), DENY(SYS_swapoff),
        DENY(SYS_open_by_handle_at), DENY(SYS_fsopen), DENY(SYS_fsmount), DENY(SYS_move_mount),
        DENY(SYS_perf_event_open), DENY(SYS_userfaultfd),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
#undef DENY
    struct sock_fprog program = { .len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter };
    long result = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
    if (result < 0) return -errno;
    /* TSYNC returns the id of a thread that could not be synchronised. */
    return result == 0 ? 0 : -EAGAIN;
#endif
}

/* One byte of data and room for one descriptor: the message both ends of a descriptor hand-over use. */
struct descriptor_message {
    char byte;
    struct iovec data;
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr message;
};

static void descriptor_message_init(struct descriptor_message *m)
{
    memset(m, 0, sizeof *m);
    m->byte = 'G';
    m->data.iov_base = &m->byte;
    m->data.iov_len = 1;
    m->message.msg_iov = &m->data;
    m->message.msg_iovlen = 1;
    m->message.msg_control = m->control.space;
    m->message.msg_controllen = sizeof m->control.space;
}

int emud_send_descriptor(int socket, int fd)
{
    struct descriptor_message m;
    descriptor_message_init(&m);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m.message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t sent;
    do
        sent = sendmsg(socket, &m.message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent == 1 ? 0 : (sent < 0 ? -errno : -EIO);
}

int emud_receive_descriptor(int socket)
{
    struct descriptor_message m;
    descriptor_message_init(&m);
    ssize_t received;
    do
        received = recvmsg(socket, &m.message, 0);
    while (received < 0 && errno == EINTR);
    if (received < 0)
        return -errno;
    if (received == 0)
        return -EPIPE;
    int fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m.message); c; c = CMSG_NXTHDR(&m.message, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
    if (fd >= 0 && (m.message.msg_flags & MSG_CTRUNC) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -EBADMSG;
}
