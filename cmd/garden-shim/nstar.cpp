// garden-nstar PID UID GID DIR: unpacks the tar archive on stdin into DIR of the container
// whose init is PID, as Guardian's nstar (rundmc/nstar/nstar.c) does with the host's tar:
// joins the init's mount namespace and, when it has one of its own, its user namespace,
// changes to DIR, becomes UID:GID (ids of the container) and extracts with libarchive.
// Extended attributes (security.capability, user.*) are restored, which the container's own
// tar (busybox in most images) dropped; owners are not (the files belong to UID:GID, as
// `tar -o`), modes and times are.
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int fail(const std::string& what) {
  fprintf(stderr, "garden-nstar: %s\n", what.c_str());
  return 1;
}

int fail_errno(const std::string& what) {
  return fail(what + ": " + strerror(errno));
}

bool parse_id(const char* s, unsigned long max, unsigned long& out) {
  if (!*s) return false;
  char* end = nullptr;
  errno = 0;
  out = strtoul(s, &end, 10);
  return errno == 0 && *end == 0 && out <= max && s[0] != '-';
}

// libarchive's text and, where it kept one, the errno's ("Write failed: No space left...").
std::string error_of(archive* a) {
  std::string s = archive_error_string(a) ? archive_error_string(a) : "unknown error";
  int e = archive_errno(a);
  if (e > 0 && s.find(strerror(e)) == std::string::npos) s += std::string(": ") + strerror(e);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return fail("usage: garden-nstar PID UID GID DIR");
  unsigned long pid, uid, gid;
  if (!parse_id(argv[1], 4194304, pid) || pid == 0)
    return fail("invalid pid `" + std::string(argv[1]) + "`");
  if (!parse_id(argv[2], 4294967294UL, uid))
    return fail("invalid uid `" + std::string(argv[2]) + "`");
  if (!parse_id(argv[3], 4294967294UL, gid))
    return fail("invalid gid `" + std::string(argv[3]) + "`");
  const char* dir = argv[4];

  std::string ns = "/proc/" + std::to_string(pid) + "/ns/";
  int mntfd = open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC);
  if (mntfd < 0) return fail_errno("open " + ns + "mnt");
  int userfd = open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC);
  if (userfd < 0) return fail_errno("open " + ns + "user");
  struct stat theirs, ours;
  if (fstat(userfd, &theirs) < 0 || stat("/proc/self/ns/user", &ours) < 0)
    return fail_errno("stat user namespaces");
  bool own_userns = theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev;
  if (setns(mntfd, CLONE_NEWNS) < 0) return fail_errno("join the container's mount namespace");
  if (own_userns && setns(userfd, CLONE_NEWUSER) < 0)
    return fail_errno("join the container's user namespace");
  close(mntfd);
  close(userfd);
  if (chdir(dir) < 0) return fail_errno(std::string("chdir to `") + dir + "`");
  if (setgroups(0, nullptr) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
    return fail_errno("become " + std::to_string(uid) + ":" + std::to_string(gid));

  archive* in = archive_read_new();
  archive* out = archive_write_disk_new();
  if (!in || !out) return fail("libarchive: out of memory");
  archive_read_support_format_tar(in);
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  if (archive_read_open_fd(in, 0, 64 << 10) != ARCHIVE_OK)
    return fail(std::string("read the archive: ") + error_of(in));
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return fail(std::string("read the archive: ") + error_of(in));
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    // Extended attributes the user may not set (security.* as non-root) are a warning, as
    // GNU tar's: the file itself is written.
    r = archive_write_header(out, e);
    if (r < ARCHIVE_WARN) return fail("`" + name + "`: " + error_of(out));
    if (r == ARCHIVE_WARN)
      fprintf(stderr, "garden-nstar: `%s`: %s\n", name.c_str(), error_of(out).c_str());
    if (archive_entry_size(e) > 0) {
      const void* buf;
      size_t len;
      la_int64_t off;
      while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
        // A failed write (ENOSPC under a disk limit) is only ARCHIVE_WARN to libarchive.
        if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK)
          return fail("`" + name + "`: " + error_of(out));
      if (r != ARCHIVE_EOF) return fail("`" + name + "`: " + error_of(in));
    }
    r = archive_write_finish_entry(out);
    if (r < ARCHIVE_WARN) return fail("`" + name + "`: " + error_of(out));
    if (r == ARCHIVE_WARN)
      fprintf(stderr, "garden-nstar: `%s`: %s\n", name.c_str(), error_of(out).c_str());
  }
  if (archive_write_close(out) < ARCHIVE_WARN) return fail(error_of(out));
  archive_read_free(in);
  archive_write_free(out);
  return 0;
}
