# garden-shim suite: every tests/garden/test_*.py is one ctest test. Each starts its own
# garden-shim on a free loopback port with a temporary depot and the runtime named by
# GARDEN_RUNTIME (CI: the crunner built here; by hand it defaults to runc from PATH).
if(TARGET garden-shim)
  file(GLOB GARDEN_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/garden/test_*.py)
  # test_image_plugin_e2e drives garden-shim with crunner-image as its image plugin; built
  # here, it must work (the test skips only when the target does not exist).
  set(GARDEN_IMAGE_ENV "")
  if(TARGET crunner-image)
    set(GARDEN_IMAGE_ENV ";CRUNNER_IMAGE=$<TARGET_FILE:crunner-image>")
  endif()
  foreach(t ${GARDEN_TESTS})
    get_filename_component(name ${t} NAME_WE)
    add_test(NAME "garden: ${name}" COMMAND ${Python3_EXECUTABLE} -u ${t})
    set_tests_properties("garden: ${name}" PROPERTIES
      ENVIRONMENT "GARDEN_SHIM=$<TARGET_FILE:garden-shim>;CRUNNER=$<TARGET_FILE:crunner>;GARDEN_RUNTIME=$<TARGET_FILE:crunner>;CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR}${GARDEN_IMAGE_ENV}"
      TIMEOUT 600)
  endforeach()

  # The garden-default AppArmor profile garden-shim ships compiles (apparmor_parser without
  # a kernel: this host has no AppArmor; the AppArmor guest suite loads and enforces it).
  find_program(APPARMOR_PARSER apparmor_parser PATHS /usr/sbin /sbin)
  add_test(NAME "garden: garden-default AppArmor profile compiles"
           COMMAND ${APPARMOR_PARSER} --skip-kernel-load --skip-cache --quiet
                   ${CMAKE_SOURCE_DIR}/garden/apparmor/garden-default)

  # Unit tests of the bundle builder and the process spec (no server, no runtime).
  file(GLOB GARDEN_UNIT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/garden/unit/*.cpp)
  add_executable(garden-unit-tests ${GARDEN_UNIT_SOURCES})
  target_link_libraries(garden-unit-tests PRIVATE garden-core Catch2::Catch2)
  catch_discover_tests(garden-unit-tests TEST_PREFIX "garden unit: " EXTRA_ARGS --warn NoTests
                       PROPERTIES LABELS quick)
endif()
