// OCI mount options -> mount(2) flags, propagation changes, mount_setattr(2)
// attributes and the filesystem data string, with runc's option table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crunner {

struct MountOptions {
  unsigned long flags = 0;    // MS_* to pass to mount(2) (MS_BIND, MS_REC for rbind, MS_RDONLY...)
  unsigned long cleared = 0;  // MS_* an option explicitly cleared ("rw", "suid", "exec"...)
  std::vector<unsigned long> propagation;  // MS_SHARED/MS_SLAVE/... (| MS_REC), in order
  uint64_t attr_set = 0;                   // mount_setattr(AT_RECURSIVE) for "rro", "rnosuid"...
  uint64_t attr_clr = 0;
  bool tmpcopyup = false;  // tmpfs: copy the directory's old contents into the new tmpfs
  std::string data;        // options no table knows, comma-joined, for the filesystem

  bool is_bind() const;
  bool has_rec_attrs() const { return attr_set != 0 || attr_clr != 0; }
};

// Parses options the way runc does: later options win over earlier ones
// ("ro,rw" is rw), unknown ones go to `data` in their order.
MountOptions parse_mount_options(const std::vector<std::string>& options);

// "rslave" -> MS_SLAVE|MS_REC, "private" -> MS_PRIVATE, ...; nullopt when not a
// propagation name. Used for options and for linux.rootfsPropagation.
std::optional<unsigned long> propagation_flag(const std::string& name);

// Every option parse_mount_options() knows (for `features`), sorted.
std::vector<std::string> known_mount_options();

}  // namespace crunner
