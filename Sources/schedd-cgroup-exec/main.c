// schedd-cgroup-exec CGROUP_PROCS PROGRAM [ARGUMENT...]
//
// Moves its own process into a run's cgroup (writes "0" to the run's cgroup.procs), then
// becomes PROGRAM (an absolute path, resolved by schedd) with the same pid, session, pipes and
// environment. schedd starts each process run through it where runs get a cgroup of their own:
// swift-subprocess cannot spawn into a cgroup, and a move made by schedd after the spawn would
// race with the job's first fork, so the process has to move itself before it runs the job.
//
// C and linked statically, so that it costs one small exec and no dynamic loader: started
// through /bin/sh instead, the same move costs a run ~20 % of its throughput
// (docs/performance.md). Exit codes are the shell's: 125 when the move fails, 126 when PROGRAM
// cannot be run, 127 when it does not exist.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fputs("usage: schedd-cgroup-exec CGROUP_PROCS PROGRAM [ARGUMENT...]\n", stderr);
        return 125;
    }
    int fd = open(argv[1], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
        fprintf(stderr, "schedd: cannot move the run into its cgroup %s: %s\n", argv[1], strerror(errno));
        return 125;
    }
    close(fd);
    execv(argv[2], argv + 2);
    int failure = errno;
    fprintf(stderr, "schedd: cannot run %s: %s\n", argv[2], strerror(failure));
    return failure == ENOENT ? 127 : 126;
}
