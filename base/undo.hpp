// The undo stack of an operation made of steps (create, restore): each step that made
// something adds how to take it away again; when the operation fails, everything added is
// undone, last first, as the Undo goes out of scope; a successful operation dismisses it.
// So the failure path of every step is written once, where the step is.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace crunner {

class Undo {
 public:
  Undo() = default;
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;
  ~Undo() {
    if (dismissed_) return;
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }
  // `f` must not throw: it runs from a destructor.
  void add(std::function<void()> f) { steps_.push_back(std::move(f)); }
  void dismiss() { dismissed_ = true; }

 private:
  std::vector<std::function<void()>> steps_;
  bool dismissed_ = false;
};

}  // namespace crunner
