// A fake cgroup tree in a temp directory for the cgroups unit tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cgroups/cgdir.hpp"

namespace crunner::cgroups::testing {

class FakeTree {
 public:
  FakeTree() {
    char tmpl[] = "/tmp/crunner-test-cgfake-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  ~FakeTree() {
    set_write_observer({});
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }
  void dir(const std::string& rel) { std::filesystem::create_directories(path(rel)); }
  void file(const std::string& rel, const std::string& content = "") {
    auto p = std::filesystem::path(path(rel));
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  std::string read(const std::string& rel) const {
    std::ifstream f(path(rel));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  bool exists(const std::string& rel) const { return std::filesystem::exists(path(rel)); }
  CgDir open(const std::string& rel) {
    auto r = open_cgdir(path(rel));
    return std::move(r).value();
  }
  // Records every cg_write as "file=value" (file relative to the tree).
  std::vector<std::string>& record() {
    writes_.clear();
    set_write_observer([this](const std::string& p, std::string_view v) {
      writes_.push_back(p.substr(root_.size() + 1) + "=" + std::string(v));
    });
    return writes_;
  }

 private:
  std::string root_;
  std::vector<std::string> writes_;
};

}  // namespace crunner::cgroups::testing
