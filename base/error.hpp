// The one error type of crunner, and Result<T> (GCC 12 has no std::expected).
//
// An Error carries a kind (what callers branch on), the errno when a syscall
// failed, and a lowercase message that names the action and the path. Context
// is prepended as the error travels up: "create container: mount `proc` to
// `/proc`: permission denied".
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace crunner {

enum class ErrorKind {
  NotFound,
  Exists,
  InvalidSpec,
  BadState,
  Permission,
  Unsupported,
  Syscall,
  Internal
};

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  int err = 0;  // errno, 0 when not from a syscall
  std::string message;

  // The full text: the message, then the lowercase strerror when err != 0.
  std::string what() const;
  // Prepend "ctx: " to the message.
  Error& context(const std::string& ctx) {
    message = ctx + ": " + message;
    return *this;
  }
};

std::string errno_text(int err);  // lowercase strerror ("no such file or directory")

inline Error make_error(ErrorKind k, std::string msg) {
  return Error{k, 0, std::move(msg)};
}
inline Error sys_error(std::string msg, int err = errno) {
  ErrorKind k = ErrorKind::Syscall;
  if (err == ENOENT) k = ErrorKind::NotFound;
  if (err == EEXIST) k = ErrorKind::Exists;
  if (err == EPERM || err == EACCES) k = ErrorKind::Permission;
  return Error{k, err, std::move(msg)};
}
inline Error invalid_spec(std::string msg) {
  return Error{ErrorKind::InvalidSpec, 0, std::move(msg)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}      // NOLINT: implicit by design
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error& error() & { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return e_; }
  Error& error() & { return e_; }
  Error&& error() && { return std::move(e_); }
  void value() const {}

 private:
  Error e_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace crunner

// Early return of the error of an expression that yields a Result.
#define CR_TRY(expr)                                          \
  do {                                                        \
    auto&& cr_try_r_ = (expr);                                \
    if (!cr_try_r_.ok()) return std::move(cr_try_r_).error(); \
  } while (0)

// Like CR_TRY, but prepends context to the error.
#define CR_TRY_CTX(expr, ctx)                                              \
  do {                                                                     \
    auto&& cr_try_r_ = (expr);                                             \
    if (!cr_try_r_.ok()) return std::move(cr_try_r_.error().context(ctx)); \
  } while (0)

// Declares `var` from a Result<T> expression, returning its error on failure.
#define CR_CONCAT_(a, b) a##b
#define CR_CONCAT(a, b) CR_CONCAT_(a, b)
#define CR_ASSIGN(var, expr)                                                                  \
  auto CR_CONCAT(cr_r_, __LINE__) = (expr);                                                   \
  if (!CR_CONCAT(cr_r_, __LINE__).ok()) return std::move(CR_CONCAT(cr_r_, __LINE__)).error(); \
  var = std::move(CR_CONCAT(cr_r_, __LINE__)).value()
