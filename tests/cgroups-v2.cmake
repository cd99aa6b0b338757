# cgroup v2 suite: two groups, each in one throw-away v2vm guest (pure cgroup v2), each a
# few minutes under TCG; they share a lock so that only one guest boots at a time.
#  - the cgroup unit and [real] library tests, including the eBPF device filter and clone3
#    CLONE_INTO_CGROUP;
#  - tests/integration/test_cgroups.py against the crunner built here: the CLI on real
#    containers (limits, pause/resume, update, events, ps, kill --all, devices deny/allow
#    through the eBPF filter, placement of the init, no cgroup left after delete, rootless:
#    without a cgroup, and in a delegated subtree).
add_test(NAME "cgroups-v2: cgroup tests in the v2 guest"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/v2/run-cgroups-v2.sh $<TARGET_FILE:unit-tests>)
set_tests_properties("cgroups-v2: cgroup tests in the v2 guest" PROPERTIES
  ENVIRONMENT "CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  SKIP_RETURN_CODE 77
  RESOURCE_LOCK v2vm
  TIMEOUT 900)
add_test(NAME "cgroups-v2: test_cgroups.py in the v2 guest"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/v2/run-integration-v2.sh $<TARGET_FILE:crunner>)
set_tests_properties("cgroups-v2: test_cgroups.py in the v2 guest" PROPERTIES
  ENVIRONMENT "CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  SKIP_RETURN_CODE 77
  RESOURCE_LOCK v2vm
  TIMEOUT 900)
# The systemd cgroup driver (--systemd-cgroup) against a real systemd: boots the host's
# systemd as PID 1 of new pid/mount/cgroup namespaces in the guest
# (tests/v2/systemd-in-guest.sh) and runs test_systemd.py in a scope of it.
add_test(NAME "systemd-v2: test_systemd.py against systemd in the v2 guest"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/v2/run-systemd-v2.sh $<TARGET_FILE:crunner>)
set_tests_properties("systemd-v2: test_systemd.py against systemd in the v2 guest" PROPERTIES
  ENVIRONMENT "CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  SKIP_RETURN_CODE 77
  RESOURCE_LOCK v2vm
  TIMEOUT 900)
