# Caller suites: every tests/callers/test_*.py is one ctest test ("callers: docker", ...) that
# drives crunner through a real caller (Docker's dockerd + containerd, buildah) with every case
# run under runc and under crunner side by side, servers private and inside a network and
# mount namespace the suite made. Each prints a runc-vs-crunner table and `N passed, N failed`.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
file(GLOB CALLER_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/callers/test_*.py)
foreach(t ${CALLER_TESTS})
  get_filename_component(name ${t} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME "callers: ${name}" COMMAND ${Python3_EXECUTABLE} -u ${t})
  set_tests_properties("callers: ${name}" PROPERTIES
    ENVIRONMENT "CRUNNER=$<TARGET_FILE:crunner>;CRUNNER_BUILD_DIR=${CMAKE_BINARY_DIR};CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    TIMEOUT 900)
endforeach()
