// epoll, eventfd and timerfd, which Swift's Glibc module does not include: the DescriptorLoop
// of the Scheduler target waits on them (MonotonicTimers arms its timerfd). Headers only;
// nothing to compile or link.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
