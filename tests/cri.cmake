# Kubernetes CRI suite (tests/cri/, ~3 min): a private containerd with its CRI plugin and two
# runtime handlers, runc and crunner (registered as docs/callers/kubernetes.md says), in a
# network namespace of its own; a CRI client of our own runs every case with both and prints
# the runc-vs-crunner table. Debian's python3 (its grpcio, protobuf, websocket and yaml).
find_program(DEBIAN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(DEBIAN_PYTHON3)
  add_test(NAME "callers: cri" COMMAND ${DEBIAN_PYTHON3} -u ${CMAKE_CURRENT_SOURCE_DIR}/cri/test_cri.py)
  set_tests_properties("callers: cri" PROPERTIES
    ENVIRONMENT "CRUNNER=$<TARGET_FILE:crunner>;CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR};CRUNNER_BUILD_DIR=${CMAKE_BINARY_DIR}"
    TIMEOUT 1200)
endif()
