// Waiting for a foreground process (`run`, `exec` without -d): forwards the
// signals crunner receives, proxies the pty to the user's terminal (raw mode,
// window size, restored at exit) and returns the exit code rule of
// docs/DESIGN.md §3: the status, or 128+N when killed by signal N.
#pragma once

#include <signal.h>
#include <sys/types.h>

namespace crunner {

// Blocks the signals the foreground loop forwards; call before cloning the
// process so none is lost. The child unblocks them itself.
void block_forwarded_signals(sigset_t* old);
// `pid` must be our child. tty_master < 0: no terminal.
int wait_foreground(pid_t pid, int tty_master);

}  // namespace crunner
