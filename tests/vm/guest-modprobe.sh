#!/vm/bin/sh
# The guest kernel's modprobe helper (/proc/sys/kernel/modprobe): the kernel runs
# "modprobe -q -- NAME" when something needs a module (mount -t overlay, ip link add type
# veth, ...). Debian's kernel has no /lib/modules in the guest, so the names the tests need
# map to the module groups tests/vm/run-in-guest.sh staged in /vm/modules (each NAME.list
# holds the group's modules, dependencies first).
for n; do :; done
case "$n" in
  fs-overlay | overlay) g=overlay ;;
  rtnl-link-veth | veth) g=veth ;;
  rtnl-link-bridge | bridge | net-pf-7) g=bridge ;;
  crypto-crc32c | crc32c | crypto-crc32c-generic | crc32c_generic | fs-xfs | xfs) g=xfs ;;
  *) exit 1 ;;
esac
for m in $(/vm/bin/cat /vm/modules/$g.list); do
  /vm/bin/grep -q "^$m " /proc/modules || /vm/bin/insmod /vm/modules/$m.ko || exit 1
done
