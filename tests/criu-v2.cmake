# checkpoint / restore with criu, end to end in the v2vm guest (Debian's criu fails on this
# host's kernel; in the guest it works with the modules tests/v2/criu-modules.sh loads).
# One guest, a few minutes under TCG; shares the v2vm lock with the cgroup v2 suite.
add_test(NAME "criu-v2: test_checkpoint.py in the v2 guest"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/v2/run-criu-v2.sh $<TARGET_FILE:crunner>)
set_tests_properties("criu-v2: test_checkpoint.py in the v2 guest" PROPERTIES
  ENVIRONMENT "CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  SKIP_RETURN_CODE 77
  RESOURCE_LOCK v2vm
  TIMEOUT 1200)
