// schedd-cgroup-exec CGROUP_PROCS PROGRAM [ARGUMENT...]
//
// Moves its own process into a run's cgroup (writes "0" to the run's cgroup.procs), then
// becomes PROGRAM (an absolute path, resolved by schedd) with the same pid, session, pipes and
// environment. schedd starts each process run through it where runs get a cgroup of their own:
// swift-subprocess cannot spawn into a cgroup, and a move made by schedd after the spawn would
// race with the job's first fork, so the process has to move itself before it runs the job.
//
// It makes its four system calls itself and links no C library: a process started through it
// costs one exec of a few pages. Linked statically with glibc, its start-up alone (CPU feature
// and cache detection by `cpuid`, each a trap in a virtual machine) cost schedd ~15 % of its
// process runs per second, and /bin/sh in its place ~25 % (docs/performance.md). Exit codes are
// the shell's: 125 when the move fails, 126 when PROGRAM cannot be run, 127 when it does not
// exist.

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

#include <errno.h>
#include <fcntl.h>

#if defined(__x86_64__)
enum { SYS_write_ = 1, SYS_close_ = 3, SYS_execve_ = 59, SYS_exit_group_ = 231, SYS_openat_ = 257 };
static long call(long number, long a, long b, long c) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}
// The kernel starts a process with argc, argv and the environment on the stack; the C
// function wants the stack 16-byte aligned before its call.
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n hlt\n");
#else
enum { SYS_openat_ = 56, SYS_close_ = 57, SYS_write_ = 64, SYS_exit_group_ = 94, SYS_execve_ = 221 };
static long call(long number, long a, long b, long c) {
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n bl start\n brk #0\n");
#endif

static unsigned long length(const char *text) {
    unsigned long n = 0;
    while (text[n]) n++;
    return n;
}

static void say(const char *text) { call(SYS_write_, 2, (long)text, (long)length(text)); }

__attribute__((noreturn)) static void leave(int code) {
    for (;;) call(SYS_exit_group_, code, 0, 0);
}

// strerror's words for what these calls can fail with; the number for the rest.
static void sayError(long error) {
    switch (error) {
    case ENOENT: say("No such file or directory"); return;
    case EACCES: say("Permission denied"); return;
    case EPERM: say("Operation not permitted"); return;
    case ENOEXEC: say("Exec format error"); return;
    case ENOTDIR: say("Not a directory"); return;
    case EISDIR: say("Is a directory"); return;
    case ELOOP: say("Too many levels of symbolic links"); return;
    case ENAMETOOLONG: say("File name too long"); return;
    case E2BIG: say("Argument list too long"); return;
    case ENOMEM: say("Cannot allocate memory"); return;
    case ETXTBSY: say("Text file busy"); return;
    case ENODEV: say("No such device"); return;
    case EBUSY: say("Device or resource busy"); return;
    case EINVAL: say("Invalid argument"); return;
    case EROFS: say("Read-only file system"); return;
    }
    char digits[24];
    int at = (int)sizeof digits - 1;
    digits[at] = 0;
    do {
        digits[--at] = (char)('0' + error % 10);
        error /= 10;
    } while (error > 0 && at > 0);
    say("error ");
    say(digits + at);
}

__attribute__((noreturn, used)) void start(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **environment = argv + argc + 1;
    if (argc < 3) {
        say("usage: schedd-cgroup-exec CGROUP_PROCS PROGRAM [ARGUMENT...]\n");
        leave(125);
    }
    long fd = call(SYS_openat_, AT_FDCWD, (long)argv[1], O_WRONLY | O_CLOEXEC);
    long written = fd < 0 ? fd : call(SYS_write_, fd, (long)"0", 1);
    if (written != 1) {
        say("schedd: cannot move the run into its cgroup ");
        say(argv[1]);
        say(": ");
        sayError(-written);
        say("\n");
        leave(125);
    }
    call(SYS_close_, fd, 0, 0);
    long failed = -call(SYS_execve_, (long)argv[2], (long)(argv + 2), (long)environment);
    say("schedd: cannot run ");
    say(argv[2]);
    say(": ");
    sayError(failed);
    say("\n");
    leave(failed == ENOENT ? 127 : 126);
}

#elif defined(__linux__)
#error "schedd-cgroup-exec makes its system calls itself: add this architecture's"
#else
#include <stdio.h>
int main(void) {
    fputs("schedd-cgroup-exec: cgroups are Linux's\n", stderr);
    return 125;
}
#endif
