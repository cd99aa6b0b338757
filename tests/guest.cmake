# Guest suites: each is one test group run in one throw-away QEMU guest that boots Debian's
# own kernel (tests/vm/run-in-guest.sh, tests/vm/README.md): pure cgroup v2, plus the
# features the group needs. A guest suite never skips: a missing feature or dependency fails
# it. They share one lock, so only one guest boots at a time (each guest runs its CPUs as host
# threads; two at once would make both crawl on a 2-core machine).
#
# add_guest_test(NAME <ctest name, "guest <group>: ...">
#                [FEATURES apparmor,xfs,criu,systemd] [CPUS n] [MEMORY MiB] [TIMEOUT s]
#                [ENV NAME=VALUE...] COMMAND cmd args...)
# The source tree and the build directory are shared read-only at their paths, so COMMAND
# and everything it names (the binaries built here, tests/**) run unchanged; CRUNNER,
# CRUNNER_SOURCE_DIR and CRUNNER_BUILD_DIR are set. TIMEOUT (default 600) bounds the guest;
# ctest's own timeout adds room for a second boot and the first build of the kernel cache.
set(GUEST_RUNNER ${CMAKE_CURRENT_SOURCE_DIR}/vm/run-in-guest.sh)
function(add_guest_test)
  cmake_parse_arguments(G "" "NAME;FEATURES;CPUS;MEMORY;TIMEOUT" "ENV;COMMAND" ${ARGN})
  if(NOT G_NAME MATCHES "^guest " OR NOT G_COMMAND)
    message(FATAL_ERROR "add_guest_test: NAME \"guest ...\" and COMMAND are required")
  endif()
  if(NOT G_CPUS)
    set(G_CPUS 2)
  endif()
  if(NOT G_MEMORY)
    set(G_MEMORY 1024)
  endif()
  if(NOT G_TIMEOUT)
    set(G_TIMEOUT 600)
  endif()
  set(args --share ${CMAKE_SOURCE_DIR} --share ${CMAKE_BINARY_DIR}
      -s ${G_CPUS} -m ${G_MEMORY} -t ${G_TIMEOUT}
      -e CRUNNER=$<TARGET_FILE:crunner> -e CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}
      -e CRUNNER_BUILD_DIR=${CMAKE_BINARY_DIR})
  if(G_FEATURES)
    list(APPEND args --feature ${G_FEATURES})
  endif()
  foreach(e ${G_ENV})
    list(APPEND args -e ${e})
  endforeach()
  add_test(NAME ${G_NAME} COMMAND bash ${GUEST_RUNNER} ${args} -- ${G_COMMAND})
  math(EXPR ctest_timeout "${G_TIMEOUT} + 420")
  set_tests_properties(${G_NAME} PROPERTIES RESOURCE_LOCK guest TIMEOUT ${ctest_timeout}
                       LABELS guest)
endfunction()

set(GUEST_INTEGRATION ${CMAKE_CURRENT_SOURCE_DIR}/integration)

# cgroup v2: the cgroup unit and [real] library tests (OOM, pids, freezer, kill_all, the eBPF
# device filter, cpu quota, clone3 CLONE_INTO_CGROUP); --durations prints a line per finished
# case, so a guest that stops answering shows after which one.
add_guest_test(NAME "guest cgroup-v2: cgroup unit tests"
  COMMAND $<TARGET_FILE:unit-tests> --reporter compact --order decl --durations yes "[cgroups]")
# cgroup v2: the CLI on real containers (limits, pause/resume, update, events, ps, kill --all,
# devices through the eBPF filter, the init placed by CLONE_INTO_CGROUP, nothing left after
# delete, rootless without a cgroup and in a delegated subtree).
add_guest_test(NAME "guest cgroup-v2: test_cgroups.py" TIMEOUT 840
  COMMAND python3 -u ${GUEST_INTEGRATION}/test_cgroups.py)
# The systemd cgroup driver (--systemd-cgroup) against a real systemd, PID 1 of its own
# namespaces in the guest (tests/vm/systemd-in-guest.sh); the file runs in a scope of it.
add_guest_test(NAME "guest systemd: test_systemd.py" FEATURES systemd TIMEOUT 840
  COMMAND python3 -u ${GUEST_INTEGRATION}/test_systemd.py)
# checkpoint / restore with criu end to end (criu cannot run on this project's host kernel;
# the guest loads the modules it needs and `criu check` passes before the file starts).
add_guest_test(NAME "guest criu: test_checkpoint.py" FEATURES criu TIMEOUT 1140
  COMMAND python3 -u ${GUEST_INTEGRATION}/test_checkpoint.py)

# The busybox rootfs of tests/fixtures/make-bundle.sh, built on the host first for the guest
# suites that use it (the guest shares the build tree read-only and copies it from there):
# cheaper than making it under TCG.
set(GUEST_FIXTURE_CACHE ${CMAKE_BINARY_DIR}/guest-fixture-cache)
add_test(NAME "garden: guest fixture rootfs (built on the host)"
         COMMAND bash -c "d=$(mktemp -d) && CRUNNER_FIXTURE_CACHE=${GUEST_FIXTURE_CACHE} bash ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/make-bundle.sh $d/b >/dev/null; rc=$?; rm -rf $d; exit $rc")
set_tests_properties("garden: guest fixture rootfs (built on the host)" PROPERTIES
                     FIXTURES_SETUP guest_garden_rootfs)

# XFS project quotas: crunner-image's store on the guest's XFS and on a loop XFS that
# init-store --store-size-bytes makes; exclusive and total limits biting (EDQUOT) inside
# crunner containers, stats against du, clear errors without project quotas.
if(TARGET crunner-image)
  add_guest_test(NAME "guest xfs: crunner-image quotas (guest_xfs.py)" FEATURES xfs
    ENV CRUNNER_IMAGE=$<TARGET_FILE:crunner-image> CRUNNER_FIXTURE_CACHE=${GUEST_FIXTURE_CACHE}
    COMMAND python3 -u ${CMAKE_CURRENT_SOURCE_DIR}/image/guest_xfs.py)
  set_tests_properties("guest xfs: crunner-image quotas (guest_xfs.py)" PROPERTIES
                       FIXTURES_REQUIRED guest_garden_rootfs)
endif()

# garden-shim in the guests (tests/garden/guest_*.py over the HTTP API), on the fixture rootfs.
if(TARGET garden-shim)
  set(GUEST_GARDEN_ENV GARDEN_SHIM=$<TARGET_FILE:garden-shim> GARDEN_RUNTIME=$<TARGET_FILE:crunner>
      CRUNNER_FIXTURE_CACHE=${GUEST_FIXTURE_CACHE})
  # Pure cgroup v2: limits in the v2 files (memory, swap, cpu weight, pids), the OOM event,
  # metrics from the v2 files, peas' cgroups, nothing left after destroy.
  add_guest_test(NAME "guest cgroup-v2: garden-shim (guest_cgroup_v2.py)"
    ENV ${GUEST_GARDEN_ENV}
    COMMAND python3 -u ${CMAKE_CURRENT_SOURCE_DIR}/garden/guest_cgroup_v2.py)
  set_tests_properties("guest cgroup-v2: garden-shim (guest_cgroup_v2.py)" PROPERTIES
                       FIXTURES_REQUIRED guest_garden_rootfs)
  # AppArmor: garden-shim loads its garden-default profile; every process of an unprivileged
  # container runs under it (the label), escapes are refused there and allowed in a
  # privileged container, the profile's own denials, a normal app unaffected.
  add_guest_test(NAME "guest apparmor: garden-shim (guest_apparmor.py)" FEATURES apparmor TIMEOUT 900
    ENV ${GUEST_GARDEN_ENV}
    COMMAND python3 -u ${CMAKE_CURRENT_SOURCE_DIR}/garden/guest_apparmor.py)
  set_tests_properties("guest apparmor: garden-shim (guest_apparmor.py)" PROPERTIES
                       FIXTURES_REQUIRED guest_garden_rootfs)
  # XFS: limits.disk through crunner-image (stores on the guest's XFS): the acceptance
  # suite's disk-limit specs (total/exclusive, pre-existing users, privileged, metrics, a
  # rootfs larger than the limit, a quota per container) and peas sharing the limit.
  if(TARGET crunner-image)
    add_guest_test(NAME "guest xfs: garden-shim disk limits (guest_xfs.py)" FEATURES xfs TIMEOUT 900
      ENV ${GUEST_GARDEN_ENV} CRUNNER_IMAGE=$<TARGET_FILE:crunner-image>
      COMMAND python3 -u ${CMAKE_CURRENT_SOURCE_DIR}/garden/guest_xfs.py)
    set_tests_properties("guest xfs: garden-shim disk limits (guest_xfs.py)" PROPERTIES
                         FIXTURES_REQUIRED guest_garden_rootfs)
  endif()
endif()

# AppArmor (this project's host has none): profiles loaded with apparmor_parser, the init's
# and exec'd processes' labels, a denied write, exec --apparmor, features/check, a profile
# that is not loaded refused with nothing left; with criu in the same guest, checkpoint /
# restore keeping the label and restore --lsm-profile replacing it.
add_guest_test(NAME "guest apparmor: test_apparmor.py" FEATURES apparmor,criu TIMEOUT 600
  COMMAND python3 -u ${GUEST_INTEGRATION}/test_apparmor.py)
