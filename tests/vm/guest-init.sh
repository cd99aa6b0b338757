#!/vm/bin/sh
# PID 1 of the test guest (busybox ash; tests/vm/run-in-guest.sh puts it in the initramfs as
# /vm/init). Stage 1 runs on the initramfs (rootfs, which a runtime cannot pivot_root away
# from), copies it into a tmpfs and switch_roots there; stage 2 sets the machine up, says
# "booted" on the status port, sets up the requested features, runs the command of
# /vm/cmd with its stdout/stderr on two virtio-serial ports, then writes its exit status to
# the status port and powers off. Nothing here is read from the host but what
# run-in-guest.sh wrote into the initramfs (/vm/config, /vm/cmd, /vm/env) and the 9p shares.
BB=/vm/bin
export PATH=$BB

if [ ! -e /vm/stage2 ]; then
  mount -t tmpfs -o mode=0755 root /mnt
  for e in /*; do
    case "$e" in /mnt | /proc | /sys | /dev) continue ;; esac
    cp -a "$e" /mnt/
  done
  mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/mnt
  : >/mnt/vm/stage2
  exec switch_root /mnt /vm/init
fi

. /vm/config # GUEST_* variables written by run-in-guest.sh
say() { echo "guest: $*" >/dev/console; }
log() {
  [ -n "$GUEST_VERBOSE" ] || return 0
  read -r up _ </proc/uptime
  say "[$up] $*"
}
STATUS=/dev/ttyS1
# finish RC: the status port gets RC (stty's TCSADRAIN waits until it has left the UART),
# then the machine resets, which -no-reboot turns into QEMU's exit.
finish() {
  echo "exit $1" >$STATUS
  stty -F $STATUS raw 2>/dev/null
  sync
  reboot -f
}

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue /run /tmp
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue 2>/dev/null
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
chmod 1777 /tmp
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
stty -F $STATUS raw -echo 2>/dev/null
log "init started"

# cgroup v2 owns every controller (the kernel was booted with cgroup_no_v1=all)
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || say "cannot enable controller $c"
done
mount -t bpf -o nosuid,nodev,noexec bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null

# load_group NAME: insmods /vm/modules/NAME.list in order (dependencies first), skipping
# modules already loaded. Virtio and 9p are modules in Debian's kernel.
load_group() {
  for m in $(cat /vm/modules/$1.list); do
    grep -q "^$m " /proc/modules && continue
    insmod /vm/modules/$m.ko || { say "insmod $m ($1) failed"; return 1; }
  done
}
load_group core
load_group 9p
echo /vm/modprobe >/proc/sys/kernel/modprobe
log "modules loaded"

# The host's /usr, read-only, so that host binaries run unchanged; then each share at its
# host path (listed parents first).
opts9p="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$opts9p,cache=loose,ro" usr /usr || say "mount /usr failed"
echo "$GUEST_SHARES" | while read -r tag mode path; do
  [ -n "$tag" ] || continue
  cache=loose
  [ "$mode" = rw ] && cache=mmap
  mkdir -p "$path" && mount -t 9p -o "$opts9p,cache=$cache,$mode" "$tag" "$path" ||
    say "mount $path failed"
done
hostname guest
ip link set lo up 2>/dev/null

# stdout/stderr go to virtio-serial ports named by the host (the 8250 UART does ~200 KB/s)
OUT=/dev/console ERR=/dev/console
for i in $(seq 200); do
  for d in /sys/class/virtio-ports/vport*; do
    [ -e "$d/name" ] || continue
    case "$(cat $d/name)" in
      guest.out) OUT=/dev/${d##*/} ;;
      guest.err) ERR=/dev/${d##*/} ;;
    esac
  done
  [ "$OUT" != /dev/console ] && [ "$ERR" != /dev/console ] && [ -c "$OUT" ] && [ -c "$ERR" ] && break
  usleep 10000
done
# From here on the host knows the guest is up and never boots it again.
echo booted >$STATUS
log "booted: stdout=$OUT stderr=$ERR"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb CRUNNER_GUEST=1 CRUNNER_GUEST_FEATURES="$GUEST_FEATURES"

# The features. Each one sets itself up and checks that it works, or the run fails
# (status 125) saying why: a guest suite never runs without what it asked for.
fail() {
  echo "guest: $*" >$ERR
  finish 125
}
feature_apparmor() {
  [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] ||
    fail "apparmor: the kernel did not enable AppArmor"
  mount -t securityfs securityfs /sys/kernel/security || fail "apparmor: cannot mount securityfs"
  [ -e /sys/kernel/security/apparmor/profiles ] || fail "apparmor: no /sys/kernel/security/apparmor"
  command -v apparmor_parser >/dev/null ||
    fail "apparmor: apparmor_parser is missing (the host's apparmor package: scripts/setup-deps.sh)"
}
feature_xfs() {
  load_group xfs || fail "xfs: cannot load the xfs modules"
  command -v mkfs.xfs >/dev/null || fail "xfs: mkfs.xfs is missing (xfsprogs: scripts/setup-deps.sh)"
  mkdir -p /var/lib/guest /mnt/xfs
  truncate -s "${GUEST_XFS_MB}M" /var/lib/guest/xfs.img &&
    mkfs.xfs -q /var/lib/guest/xfs.img &&
    mount -t xfs -o loop,prjquota /var/lib/guest/xfs.img /mnt/xfs ||
    fail "xfs: cannot make and mount an XFS with prjquota on /mnt/xfs"
  export CRUNNER_GUEST_XFS=/mnt/xfs
}
feature_criu() {
  load_group criu || fail "criu: cannot load the modules criu needs"
  command -v criu >/dev/null || fail "criu: criu is missing (scripts/setup-deps.sh)"
  out=$(criu check 2>&1) || fail "criu: criu check fails in the guest: $out"
}
feature_systemd() {
  command -v systemd-run >/dev/null && [ -x /lib/systemd/systemd ] ||
    fail "systemd: the host's systemd is missing (scripts/setup-deps.sh)"
  GUEST_SYSTEMD=1
}
for f in $(echo "$GUEST_FEATURES" | tr , ' '); do
  log "feature $f"
  feature_$f
done
. /vm/env
log "starting the command"

cd "$GUEST_CWD" || fail "no directory $GUEST_CWD in the guest"
if [ -n "$GUEST_SYSTEMD" ]; then
  /usr/bin/bash /vm/systemd-in-guest.sh /usr/bin/bash /vm/cmd </dev/null >$OUT 2>$ERR
else
  /usr/bin/bash /vm/cmd </dev/null >$OUT 2>$ERR
fi
rc=$?
log "command exited $rc"
finish $rc
