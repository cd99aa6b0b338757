#!/bin/bash
# run-in-guest.sh: runs one command in a throw-away QEMU guest that boots Debian's own kernel
# (pure cgroup v2, plus the features asked for) and returns the command's exit status, its
# stdout and stderr streamed back as they come. tests/vm/README.md describes the guest.
#
# usage: run-in-guest.sh [OPTIONS] [--] COMMAND [ARGS...]
#   --feature LIST   comma-separated guest features (default: none, plain cgroup v2):
#                      apparmor  AppArmor enabled, securityfs mounted, apparmor_parser
#                      xfs       the xfs modules, an XFS with prjquota mounted at /mnt/xfs
#                      criu      the modules criu needs; `criu check` must pass
#                      systemd   COMMAND runs in a scope of a systemd that is PID 1 of new
#                                pid/mount/cgroup namespaces (tests/vm/systemd-in-guest.sh)
#   --share DIR      share host DIR read-only at the same path (repeatable)
#   --share-rw DIR   share host DIR read-write at the same path (repeatable)
#   -C DIR           working directory in the guest (default: $PWD when shared, else /)
#   -e NAME=VALUE    environment variable of the command (repeatable)
#   -s N             guest CPUs (default 1; TCG runs one host thread per CPU)
#   -m MiB           guest memory (default 1024)
#   -t SEC           stop the guest after SEC seconds: exit 124 (default 1800)
#   --xfs-size MiB   size of the xfs feature's file system (default 512; sparse, in memory)
#   -v               show the guest's console (kernel log) on stderr at the end
#   --setup          only build the cache (kernel + base initramfs), then exit
#
# Exit status: COMMAND's; 124 when -t ran out; 125 when the guest failed (it never came up
# twice, a feature could not be set up, or no status came back).
#
# Environment: CRUNNER_VM_CACHE (default /var/cache/crunner-vm) holds the kernel and the base
# initramfs, made once from the linux-image .deb that linux-image-amd64 depends on
# (CRUNNER_VM_KPKG names another) with apt-get download; nothing goes into /boot.
# CRUNNER_VM_BOOT_LIMIT (default 240): seconds a guest may take to come up before it is
# stopped and booted once more (a boot takes ~3 s on an idle machine).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${CRUNNER_VM_CACHE:-/var/cache/crunner-vm}
BOOT_LIMIT=${CRUNNER_VM_BOOT_LIMIT:-240}
T0=$(date +%s.%N)

# Module groups staged into the base initramfs, each with its dependencies first. core and
# 9p load at boot; overlay, veth, bridge and xfs when the kernel asks (guest-modprobe.sh);
# xfs and criu for their features. crc32c_generic comes before what needs the crc32c
# algorithm at load time (libcrc32c; the guest CPU has no SSE4.2 for crc32c_intel).
declare -A MODULE_GROUPS=(
  [core]="virtio_pci virtio_console loop"
  [9p]="9pnet_virtio 9p"
  [overlay]="overlay"
  [veth]="veth"
  [bridge]="bridge"
  [xfs]="crc32c_generic libcrc32c xfs"
  [criu]="crc32c_generic tun nfnetlink libcrc32c nf_tables nf_defrag_ipv4 nf_defrag_ipv6
          nf_conntrack nft_ct x_tables nft_compat unix_diag inet_diag tcp_diag udp_diag
          raw_diag netlink_diag af_packet_diag nf_conntrack_netlink"
)
FEATURES_KNOWN="apparmor xfs criu systemd"
# The cache is rebuilt when its stamp (this format and the groups) differs, for --setup, and
# when CRUNNER_VM_KPKG names another kernel package than the cached one.
CACHE_FORMAT=1

die() {
  echo "run-in-guest: $*" >&2
  exit 125
}
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

kernel_package() {
  local p=${CRUNNER_VM_KPKG:-}
  [ -n "$p" ] || p=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$p" ] || {
    apt-get update -qq
    p=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
  }
  [[ $p =~ ^linux-image-[A-Za-z0-9.+-]+$ ]] || die "no kernel package (apt-cache depends linux-image-amd64)"
  echo "$p"
}

cache_stamp() {
  local g
  echo "format $CACHE_FORMAT"
  for g in $(printf '%s\n' "${!MODULE_GROUPS[@]}" | sort); do echo "$g:" ${MODULE_GROUPS[$g]}; done
}

# vmlinux_from BZIMAGE OUT: the ELF vmlinux inside a bzImage (xz or zstd payload). QEMU boots
# an ELF directly (PVH), which saves the guest's own decompression (seconds under TCG).
# Falls back to the bzImage itself.
vmlinux_from() {
  local bz=$1 out=$2 off
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "$bz" | xz -dc --single-stream >"$out" 2>/dev/null || true
  else
    off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$bz" | head -1 | cut -d: -f1 || true)
    [ -z "$off" ] || { tail -c +$((off + 1)) "$bz" | zstd -qdc >"$out" 2>/dev/null || true; }
  fi
  [ "$(head -c 4 "$out" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || cp "$bz" "$out"
}

# stage_group NAME MODDIR OUTDIR: decompresses NAME's modules and the ones they depend on
# (their modinfo "depends=") into OUTDIR and writes OUTDIR/NAME.list, dependencies first.
stage_group() {
  local group=$1 mdir=$2 out=$3 listed=" "
  add_module() {
    local m=$1 f d
    case "$listed" in *" $m "*) return 0 ;; esac
    listed="$listed$m "
    f=$(find "$mdir" \( -name "$m.ko*" -o -name "${m//_/-}.ko*" \) | head -1)
    [ -n "$f" ] || return 0 # built into the kernel
    case "$f" in
      *.xz) xz -dc "$f" ;;
      *.zst) zstd -qdc "$f" ;;
      *) cat "$f" ;;
    esac >"$out/$m.ko"
    for d in $(grep -ao 'depends=[A-Za-z0-9_,-]*' "$out/$m.ko" | head -1 | cut -d= -f2 | tr , ' '); do
      add_module "$d"
    done
    echo "$m"
  }
  for m in ${MODULE_GROUPS[$group]}; do add_module "$m"; done >"$out/$group.list"
}

# setup [force]: the cache (kernel, base initramfs with busybox and the module groups,
# stamp), built in a temporary directory and renamed into place under a lock, when it is
# missing, stale, or forced. The kernel package is the one cached until then.
setup() {
  command -v qemu-system-x86_64 >/dev/null && [ -x /bin/busybox ] ||
    die "qemu-system-x86 or busybox-static is missing (scripts/setup-deps.sh)"
  mkdir -p "$CACHE"
  exec 7>"$CACHE/.lock"
  flock 7
  local kpkg stamp cached
  stamp=$(cache_stamp)
  cached=$(cut -d' ' -f1 "$CACHE/kernel.txt" 2>/dev/null || true)
  if [ -z "${1:-}" ] && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$stamp" ] &&
    [ -s "$CACHE/vmlinux" ] && [ -s "$CACHE/base.cpio" ] &&
    [ "${CRUNNER_VM_KPKG:-$cached}" = "$cached" ]; then
    exec 7>&-
    return 0
  fi
  kpkg=$(kernel_package)
  echo "run-in-guest: building the guest cache in $CACHE from $kpkg" >&2
  local tmp
  tmp=$(mktemp -d "$CACHE/setup.XXXXXX")
  chmod 755 "$tmp" # apt-get download writes as _apt when it can
  (cd "$tmp" && apt-get download -q "$kpkg" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download -q "$kpkg" >/dev/null; }) ||
    { rm -rf "$tmp"; die "apt-get download $kpkg failed"; }
  dpkg -x "$tmp"/*.deb "$tmp/x"
  local bz kver r
  bz=$(ls "$tmp"/x/boot/vmlinuz-*)
  kver=${bz##*/vmlinuz-}
  vmlinux_from "$bz" "$tmp/vmlinux"
  r=$tmp/root
  mkdir -p "$r/vm/bin" "$r/vm/modules"
  cp /bin/busybox "$r/vm/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/vm/bin/$a"; done
  for g in "${!MODULE_GROUPS[@]}"; do stage_group "$g" "$tmp/x/lib/modules/$kver" "$r/vm/modules"; done
  (cd "$r" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$tmp/base.cpio"
  echo "$kpkg $kver" >"$tmp/kernel.txt"
  mv "$tmp/vmlinux" "$CACHE/vmlinux"
  mv "$tmp/base.cpio" "$CACHE/base.cpio"
  mv "$tmp/kernel.txt" "$CACHE/kernel.txt"
  echo "$stamp" >"$CACHE/stamp"
  rm -rf "$tmp"
  exec 7>&-
}

FEATURES="" CWD="" MEM=1024 SMP=1 TIMEOUT=1800 VERBOSE="" XFS_MB=512
SHARES=() ENVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --feature) FEATURES=$2; shift 2 ;;
    --share | --share-rw)
      [ -d "$2" ] || die "$1: no directory $2"
      d=$(realpath -e "$2")
      [[ $d != *[,$'\n']* ]] || die "$1: QEMU cannot share a path with a comma: $d"
      mode=ro
      [ "$1" = --share ] || mode=rw
      SHARES+=("$mode $d")
      shift 2
      ;;
    -C) CWD=$2; shift 2 ;;
    -e) [[ $2 == [A-Za-z_]*=* ]] || die "-e wants NAME=VALUE, not $2"; ENVS+=("$2"); shift 2 ;;
    -s) SMP=$2; shift 2 ;;
    -m) MEM=$2; shift 2 ;;
    -t) TIMEOUT=$2; shift 2 ;;
    --xfs-size) XFS_MB=$2; shift 2 ;;
    -v) VERBOSE=1; shift ;;
    --setup) setup force; cat "$CACHE/kernel.txt"; exit 0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1 (--help)" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || die "no command given (--help)"
for n in "$SMP" "$MEM" "$TIMEOUT" "$XFS_MB"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "-s, -m, -t and --xfs-size want a positive number, not $n"
done
for f in ${FEATURES//,/ }; do
  case " $FEATURES_KNOWN " in *" $f "*) ;; *) die "unknown feature $f (known: $FEATURES_KNOWN)" ;; esac
done
setup

RUN=$(mktemp -d /tmp/crunner-guest.XXXXXX)
QPID=""
cleanup() {
  [ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The shares, parents before children (a child's mount point is then on its parent's); a
# read-only share inside another read-only one (a build directory in the source tree) is
# already there.
mapfile -t SHARES < <(printf '%s\n' ${SHARES[@]+"${SHARES[@]}"} | awk 'NF' |
  awk '{print length($0), $0}' | sort -n | cut -d' ' -f2- | awk '
    { mode = $1; path = substr($0, length(mode) + 2); inside = 0
      if (mode == "ro") for (p in ro) if (index(path "/", p "/") == 1) inside = 1
      if (!inside) print
      if (mode == "ro") ro[path] = 1 }')
[ -n "$CWD" ] || {
  CWD=/
  for s in ${SHARES[@]+"${SHARES[@]}"}; do
    case "$PWD/" in "${s#* }"/*) CWD=$PWD ;; esac
  done
}

# The run's initramfs: the cached base, then this run's init, config, command and /etc.
R=$RUN/root
mkdir -p "$R"/{vm,etc,dev,proc,sys,mnt,usr,root,tmp}
cp "$HERE/guest-init.sh" "$R/vm/init"
cp "$HERE/guest-modprobe.sh" "$R/vm/modprobe"
cp "$HERE/systemd-in-guest.sh" "$R/vm/systemd-in-guest.sh"
chmod 755 "$R/vm/init" "$R/vm/modprobe"
ln -s vm/init "$R/init"
for d in bin sbin lib lib64; do ln -s usr/$d "$R/$d"; done
{
  printf 'GUEST_FEATURES=%q\n' "$FEATURES"
  printf 'GUEST_VERBOSE=%q\n' "$VERBOSE"
  printf 'GUEST_CWD=%q\n' "$CWD"
  printf 'GUEST_XFS_MB=%q\n' "$XFS_MB"
  i=0
  shares=""
  for s in ${SHARES[@]+"${SHARES[@]}"}; do
    shares+="share$i $s"$'\n'
    i=$((i + 1))
  done
  printf 'GUEST_SHARES=%q\n' "$shares"
} >"$R/vm/config"
{ printf '%q ' "$@"; echo; } >"$R/vm/cmd"
for e in ${ENVS[@]+"${ENVS[@]}"}; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done >"$R/vm/env"
for f in passwd group nsswitch.conf ld.so.cache hosts protocols services os-release; do
  [ -f "/etc/$f" ] && cp "/etc/$f" "$R/etc/"
done
# Debian reaches iptables (criu's network lock) through /etc/alternatives; AppArmor's
# parser reads /etc/apparmor and the abstractions of /etc/apparmor.d.
for d in alternatives apparmor apparmor.d; do
  [ -d "/etc/$d" ] && cp -a "/etc/$d" "$R/etc/"
done
(cd "$R" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$RUN/run.cpio"
cat "$CACHE/base.cpio" "$RUN/run.cpio" >"$RUN/initrd"

# Kernel: pure cgroup v2; AppArmor only where asked for (the default guest has none, like
# this project's host).
# no_timer_check: under host load the emulated CPU can miss the kernel's early check that
# the IO-APIC timer ticks ("IO-APIC + timer doesn't work!", a panic; seen here once in ~10
# boots at load 17).
KARGS="console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all cryptomgr.notests mitigations=off no_timer_check rdinit=/init"
if echo ",$FEATURES," | grep -q ',apparmor,'; then
  KARGS+=" apparmor=1 security=apparmor"
else
  KARGS+=" apparmor=0"
fi
ACCEL=tcg
[ "$SMP" -gt 1 ] && ACCEL=tcg,thread=multi
# qboot (a tiny firmware) boots ~0.5 s faster than SeaBIOS under TCG
BIOS=()
[ -f /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)
QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
  -machine q35 -accel "$ACCEL" -cpu qemu64 -smp "$SMP" -m "$MEM" "${BIOS[@]}"
  -kernel "$CACHE/vmlinux" -initrd "$RUN/initrd" -append "$KARGS"
  -chardev file,id=con,path="$RUN/console.log" -serial chardev:con
  -chardev file,id=st,path="$RUN/status" -serial chardev:st
  -device virtio-serial-pci,id=vser
  -chardev file,id=out,path="$RUN/out" -device virtserialport,bus=vser.0,chardev=out,name=guest.out
  -chardev file,id=err,path="$RUN/err" -device virtserialport,bus=vser.0,chardev=err,name=guest.err
  -fsdev local,id=usr,path=/usr,security_model=none,readonly=on
  -device virtio-9p-pci,fsdev=usr,mount_tag=usr)
i=0
for s in ${SHARES[@]+"${SHARES[@]}"}; do
  ro=""
  [ "${s%% *}" = ro ] && ro=",readonly=on"
  QEMU+=(-fsdev "local,id=share$i,path=${s#* },security_model=none$ro"
    -device "virtio-9p-pci,fsdev=share$i,mount_tag=share$i")
  i=$((i + 1))
done

# The guest's stdout/stderr come through FIFOs and cat, so that they share this script's
# stdout/stderr (offsets included) instead of reopening them. Holding a writer on each keeps
# the cats going across QEMU's open and close of them, over both boots.
mkfifo "$RUN/out" "$RUN/err"
cat "$RUN/out" &
CAT1=$!
cat "$RUN/err" >&2 &
CAT2=$!
exec 5>"$RUN/out" 6>"$RUN/err"

# boot: one guest, to its end. Returns QEMU's status, or 200 when the guest never said
# "booted" on the status port: it ended before (a kernel panic early in boot), or had not
# within BOOT_LIMIT seconds (it was stopped).
boot() {
  rm -f "$RUN/status" "$RUN/console.log"
  timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 5>&- 6>&- &
  QPID=$!
  local waited=0 qrc=0
  while kill -0 "$QPID" 2>/dev/null; do
    if [ "$waited" -ge "$BOOT_LIMIT" ] && ! grep -q booted "$RUN/status" 2>/dev/null; then
      kill -TERM "$QPID" 2>/dev/null || true
      wait "$QPID" || true
      QPID=""
      return 200
    fi
    sleep 1
    waited=$((waited + 1))
  done
  wait "$QPID" || qrc=$?
  QPID=""
  grep -q booted "$RUN/status" 2>/dev/null || return 200
  return $qrc
}

[ -z "$VERBOSE" ] || echo "run-in-guest: prepared in $(elapsed) s" >&2
qrc=0
boot || qrc=$?
if [ $qrc -eq 200 ]; then
  # Rare, and under load (a CI run once hung before the command with no output at all);
  # a command that started is never run twice.
  echo "run-in-guest: the guest did not come up; its console:" >&2
  tail -n 20 "$RUN/console.log" >&2 || true
  echo "run-in-guest: booting another guest" >&2
  qrc=0
  boot || qrc=$?
fi
exec 5>&- 6>&-
wait $CAT1 $CAT2 || true
if [ -n "$VERBOSE" ]; then
  { echo "----- guest console -----"; cat "$RUN/console.log"; echo "-----"; } >&2
fi
if [ $qrc -eq 200 ]; then
  tail -n 20 "$RUN/console.log" >&2 || true
  die "the guest did not come up, twice"
fi
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
  echo "run-in-guest: timeout after ${TIMEOUT} s" >&2
  exit 124
fi
rc=$(sed -n 's/^exit \([0-9]\{1,3\}\).*/\1/p' "$RUN/status" 2>/dev/null | tail -1)
if [ -z "$rc" ]; then
  echo "run-in-guest: the guest reported no exit status (qemu status $qrc); its console:" >&2
  tail -n 40 "$RUN/console.log" >&2 || true
  exit 125
fi
[ -z "$VERBOSE" ] || echo "run-in-guest: done in $(elapsed) s, status $rc" >&2
exit "$rc"
