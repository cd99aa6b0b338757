# cgroup v2 suite: the cgroup unit and [real] tests inside the v2vm guest (pure cgroup v2),
# including the eBPF device filter and clone3 CLONE_INTO_CGROUP. A few minutes under TCG.
add_test(NAME "cgroups-v2: cgroup tests in the v2 guest"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/v2/run-cgroups-v2.sh $<TARGET_FILE:unit-tests>)
set_tests_properties("cgroups-v2: cgroup tests in the v2 guest" PROPERTIES
  ENVIRONMENT "CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  SKIP_RETURN_CODE 77
  TIMEOUT 900)
