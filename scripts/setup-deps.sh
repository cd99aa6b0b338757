#!/bin/bash
# Installs every build, test and benchmark dependency from Debian's archive.
# Idempotent: packages already installed are not fetched again.
set -euo pipefail
PKGS=(build-essential cmake ninja-build lld pkg-config git clang-format clang libclang-rt-dev
      libseccomp-dev libcap-dev nettle-dev nlohmann-json3-dev libcli11-dev catch2
      libboost-dev libboost-system-dev libarchive-dev libyaml-cpp-dev
      libnl-3-dev libnl-route-3-dev
      busybox-static python3 iproute2 iptables procps util-linux jq e2fsprogs
      runc crun hyperfine ccache qemu-system-x86 xz-utils cpio systemd strace
      libcurl4-openssl-dev libssl-dev openssl docker-registry skopeo umoci xfsprogs zstd
      apache2-utils go-md2man dpkg-dev podman conmon catatonit uidmap
      criu libprotobuf-c-dev protobuf-c-compiler apparmor
      docker.io buildah
      containerd containernetworking-plugins python3-grpcio python3-protobuf protobuf-compiler
      python3-websocket python3-yaml universal-ctags)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No package may start its service (docker.io would start a dockerd on the host's network
  # and firewall): the suites start private ones. Debian's hook for that is policy-rc.d.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $own_policy = 0 ] || rm -f $policy
fi
