// schedd-cgroup-exec [--procs CGROUP_PROCS] [--nofile N] [--groups GID,...] [--gid GID] [--uid UID] [--] PROGRAM [ARGUMENT...]
//
// Moves its own process into a run's cgroup (writes "0" to the run's cgroup.procs), sets its
// soft limit on open files to N (at most the hard limit: schedd raises its own and gives its
// runs the one it started with, as Go and systemd do), takes the job's supplementary groups,
// group and user, then becomes PROGRAM (an absolute path, resolved
// by schedd) with the same pid, session, pipes and environment. schedd starts each process run
// that has a cgroup of its own, runs as another account or needs its limit back through it: swift-subprocess cannot
// spawn into a cgroup, and a move made by schedd after the spawn would race with the job's
// first fork, so the process has to move itself before it runs the job; and the switch of ids
// has to happen in a process of one thread (glibc's setuid in swift-subprocess's forked child
// of a multithreaded daemon could wait for ever in __nptl_setxid), after the move (which needs
// schedd's rights). The ids are numbers: schedd looks the account and its groups up itself,
// off its threads, so that no account database is read here.
//
// It makes its system calls itself and links no C library: a process started through it costs
// one exec of a few pages. Linked statically with glibc, its start-up alone (CPU feature and
// cache detection by `cpuid`, each a trap in a virtual machine) cost schedd ~15 % of its process
// runs per second, and /bin/sh in its place ~25 % (docs/performance.md); setpriv, which switched
// the ids before, is linked dynamically and reads the account database again. Exit codes are
// the shell's: 125 when the run cannot be set up (a bad argument, a failed move or switch), 126
// when PROGRAM cannot be run, 127 when it does not exist.

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

#include <errno.h>
#include <fcntl.h>

#if defined(__x86_64__)
enum {
    SYS_write_ = 1, SYS_close_ = 3, SYS_execve_ = 59, SYS_setgroups_ = 116, SYS_setresuid_ = 117, SYS_setresgid_ = 119,
    SYS_exit_group_ = 231, SYS_openat_ = 257, SYS_prlimit64_ = 302
};
static long call4(long number, long a, long b, long c, long d) {
    long result;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return result;
}
// The kernel starts a process with argc, argv and the environment on the stack; the C
// function wants the stack 16-byte aligned before its call.
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n hlt\n");
#else
enum {
    SYS_openat_ = 56, SYS_close_ = 57, SYS_write_ = 64, SYS_exit_group_ = 94, SYS_setresuid_ = 147, SYS_setresgid_ = 149,
    SYS_setgroups_ = 159, SYS_execve_ = 221, SYS_prlimit64_ = 261
};
static long call4(long number, long a, long b, long c, long d) {
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n bl start\n brk #0\n");
#endif

static long call(long number, long a, long b, long c) { return call4(number, a, b, c, 0); }

// RLIMIT_NOFILE, the same number on every Linux architecture this builds for.
enum { RLIMIT_NOFILE_ = 7 };

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

static int same(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

__attribute__((noreturn)) static void usage(void) {
    say("usage: schedd-cgroup-exec [--procs CGROUP_PROCS] [--nofile N] [--groups GID,...] [--gid GID] [--uid UID] [--] PROGRAM [ARGUMENT...]\n");
    leave(125);
}

// A uid or gid in decimal, as the kernel takes it: 0 to 2^32-2 ((uid_t)-1 means "unchanged"
// to the set*id calls, never an id). `end` is where the number must stop.
static int parseID(const char *text, char end, const char **rest, unsigned int *id) {
    unsigned long value = 0;
    const char *at = text;
    if (*at < '0' || *at > '9') return 0;
    while (*at >= '0' && *at <= '9') {
        value = value * 10 + (unsigned long)(*at - '0');
        if (value > 4294967294UL) return 0;
        at++;
    }
    if (*at != end) return 0;
    *rest = at;
    *id = (unsigned int)value;
    return 1;
}

// A limit in decimal, from 1 to 2^62 (beyond any kernel's nr_open).
static int parseLimit(const char *text, unsigned long *limit) {
    unsigned long value = 0;
    const char *at = text;
    if (*at < '0' || *at > '9') return 0;
    while (*at >= '0' && *at <= '9') {
        value = value * 10 + (unsigned long)(*at - '0');
        if (value > (1UL << 62)) return 0;
        at++;
    }
    if (*at != 0 || value == 0) return 0;
    *limit = value;
    return 1;
}

__attribute__((noreturn)) static void badID(const char *option, const char *text) {
    say("schedd-cgroup-exec: ");
    say(option);
    say(" takes ");
    say(same(option, "--groups") ? "a comma-separated list of numeric group ids" : same(option, "--nofile") ? "a positive number" : "a numeric id");
    say(", not \"");
    say(text);
    say("\"\n");
    leave(125);
}

__attribute__((noreturn)) static void failed(const char *what, const char *detail, long error) {
    say("schedd: cannot ");
    say(what);
    say(detail);
    say(": ");
    sayError(error);
    say("\n");
    leave(125);
}

// The kernel's limit on supplementary groups (NGROUPS_MAX).
static unsigned int groups[65536];

__attribute__((noreturn, used)) void start(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **environment = argv + argc + 1;
    const char *procs = 0, *uidText = 0, *gidText = 0, *groupsText = 0, *nofileText = 0;
    long at = 1;
    while (at < argc && argv[at][0] == '-' && argv[at][1] == '-') {
        const char *option = argv[at];
        if (same(option, "--")) {
            at++;
            break;
        }
        if (at + 1 >= argc) usage();
        if (same(option, "--procs")) procs = argv[at + 1];
        else if (same(option, "--uid")) uidText = argv[at + 1];
        else if (same(option, "--gid")) gidText = argv[at + 1];
        else if (same(option, "--groups")) groupsText = argv[at + 1];
        else if (same(option, "--nofile")) nofileText = argv[at + 1];
        else usage();
        at += 2;
    }
    if (at >= argc) usage();
    char **program = argv + at;

    // Every argument is checked before anything changes.
    unsigned int uid = 0, gid = 0;
    long count = 0;
    const char *rest;
    if (uidText && !parseID(uidText, 0, &rest, &uid)) badID("--uid", uidText);
    if (gidText && !parseID(gidText, 0, &rest, &gid)) badID("--gid", gidText);
    unsigned long nofile = 0;
    if (nofileText && !parseLimit(nofileText, &nofile)) badID("--nofile", nofileText);
    if (groupsText && *groupsText) {
        const char *next = groupsText;
        for (;;) {
            if (count == (long)(sizeof groups / sizeof groups[0])) badID("--groups", groupsText);
            if (!parseID(next, ',', &rest, &groups[count]) && !parseID(next, 0, &rest, &groups[count])) badID("--groups", groupsText);
            count++;
            if (*rest == 0) break;
            next = rest + 1;
        }
    }

    // The move first: writing cgroup.procs needs schedd's rights, which the switch drops.
    if (procs) {
        long fd = call(SYS_openat_, AT_FDCWD, (long)procs, O_WRONLY | O_CLOEXEC);
        long written = fd < 0 ? fd : call(SYS_write_, fd, (long)"0", 1);
        if (written != 1) failed("move the run into its cgroup ", procs, -written);
        call(SYS_close_, fd, 0, 0);
    }
    // The soft limit only: the hard one stays what schedd has (an unprivileged job could not
    // raise it back). Before the switch of ids, which does not change limits either way.
    if (nofileText) {
        unsigned long limits[2];
        long result = call4(SYS_prlimit64_, 0, RLIMIT_NOFILE_, 0, (long)limits);
        if (result == 0) {
            limits[0] = nofile < limits[1] ? nofile : limits[1];
            result = call4(SYS_prlimit64_, 0, RLIMIT_NOFILE_, (long)limits, 0);
        }
        if (result < 0) failed("set the run's limit on open files to ", nofileText, -result);
    }
    // Groups before the group, the group before the user: once the user is not root, the
    // process may change neither. Real, effective and saved ids alike, so that the job cannot
    // take schedd's back. The raw calls change this thread only, which is the whole process.
    if (groupsText) {
        long result = call(SYS_setgroups_, count, (long)groups, 0);
        if (result < 0) failed("set the run's supplementary groups to ", *groupsText ? groupsText : "none", -result);
    }
    if (gidText) {
        long result = call(SYS_setresgid_, gid, gid, gid);
        if (result < 0) failed("switch the run to gid ", gidText, -result);
    }
    if (uidText) {
        long result = call(SYS_setresuid_, uid, uid, uid);
        if (result < 0) failed("switch the run to uid ", uidText, -result);
    }
    long error = -call(SYS_execve_, (long)program[0], (long)program, (long)environment);
    say("schedd: cannot run ");
    say(program[0]);
    say(": ");
    sayError(error);
    say("\n");
    leave(error == ENOENT ? 127 : 126);
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
