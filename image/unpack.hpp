// Unpacks one layer archive (tar; gzip, zstd or plain) into an empty directory, in
// overlayfs' form: whiteouts `.wh.NAME` become 0:0 character devices, `.wh..wh..opq` the
// trusted.overlay.opaque xattr. Every entry is created relative to the layer's directory fd
// (openat family, O_NOFOLLOW on each component), so no entry can escape the layer: `..` is
// refused, symlinks are stored and never followed, hard links must name an entry inside.
#pragma once

#include "base/error.hpp"
#include "image/idmap.hpp"

namespace crunner::image {

struct UnpackStats {
  uint64_t entries = 0, whiteouts = 0, opaque = 0;
};

// `archive_fd` is read from its current offset; owners go through `map` (shifted copies).
Result<UnpackStats> unpack_layer(int archive_fd, int dir_fd, const IdMap& map);

}  // namespace crunner::image
