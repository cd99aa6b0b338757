# The OCI runtime-spec conformance suite (spec-conformance/run.py) against the crunner built
# here. Needs root; each run uses its own temporary state root.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME "conformance: crunner"
  COMMAND ${Python3_EXECUTABLE} -u ${CMAKE_SOURCE_DIR}/spec-conformance/run.py
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties("conformance: crunner" PROPERTIES
  ENVIRONMENT "RUNTIME=$<TARGET_FILE:crunner>"
  TIMEOUT 900)
