// crunner-image's stdout, byte for byte what GrootFS prints (Go's encoding/json of
// runtime-spec's specs.Spec and of groot.VolumeStats), which Guardian's image plugin parses.
#pragma once

#include <string>

#include "image/store.hpp"

namespace crunner::image {

// Go's json string encoding: HTML-safe (<, >, & as \u003c...), U+2028/9 escaped.
std::string go_json_string(const std::string& s);
// {"ociVersion":"","process":{"user":{"uid":0,"gid":0},"env":[..],"cwd":""},"root":{"path":P}
//  [,"mounts":[{"destination":"/","type":"overlay","source":"overlay","options":[..]}]]}
std::string create_output(const CreatedImage& img);
// {"disk_usage":{"total_bytes_used":N,"exclusive_bytes_used":M}}
std::string stats_output(const DiskUsage& u);

}  // namespace crunner::image
