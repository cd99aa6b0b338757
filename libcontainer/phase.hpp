// Where a command's time goes (--debug): each mark() ends one phase (the time
// since the previous mark) and hands its name and duration to the sink, which
// writes one debug line. Disabled (the default), a mark costs one branch.
//
// The container init is a clone of the parent: it buffers its own marks
// (buffer()) and sends them with its Ready message; the parent replays them
// in order, prefixed "init:".
#pragma once

#include <string>

namespace crunner::phase {

using Sink = void (*)(const char* name, double ms);

// Turns timing on; the first phase starts at t0_ns (CLOCK_MONOTONIC), or now when 0.
void enable(Sink sink, long long t0_ns = 0);
bool enabled();
long long now_ns();

// Ends the current phase (now, or at at_ns): reports `name` with the time
// since the previous mark.
void mark(const char* name, long long at_ns = 0);
// Starts a new phase now without reporting the time since the previous mark.
void restart();

// Child side: keep marks in a buffer (reported by the parent) instead of the sink.
void buffer();
// The buffered marks as "name=nanoseconds\n" lines; empties the buffer.
std::string drain();
// Parent side: reports each "name=nanoseconds" line of a child's drain() as
// prefix + name.
void replay(const std::string& lines, const char* prefix);

}  // namespace crunner::phase
