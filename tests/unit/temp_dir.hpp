// A temporary directory of a unit test, removed (recursively) at scope exit.
#pragma once

#include <stdlib.h>

#include <string>

namespace crunner::testing {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/crunner-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    path = p ? p : "";
  }
  ~TempDir() {
    if (!path.empty()) (void)!system(("rm -rf '" + path + "'").c_str());
  }
};

}  // namespace crunner::testing
