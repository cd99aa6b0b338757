# crunner-image suite: every tests/image/test_*.py is one ctest test (real docker-registry
# processes on loopback, images built with umoci and pushed with skopeo), plus Catch2 unit
# tests of reference parsing, manifest selection and the unpacker's escape checks.
if(TARGET crunner-image)
  file(GLOB IMAGE_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/image/test_*.py)
  foreach(t ${IMAGE_TESTS})
    get_filename_component(name ${t} NAME_WE)
    add_test(NAME "image: ${name}" COMMAND ${Python3_EXECUTABLE} -u ${t})
    set_tests_properties("image: ${name}" PROPERTIES
      ENVIRONMENT "CRUNNER_IMAGE=$<TARGET_FILE:crunner-image>;CRUNNER=$<TARGET_FILE:crunner>;CRUNNER_SOURCE_DIR=${CMAKE_SOURCE_DIR};CRUNNER_BUILD_DIR=${CMAKE_BINARY_DIR}"
      TIMEOUT 600)
  endforeach()

  file(GLOB IMAGE_UNIT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/image/unit/*.cpp)
  add_executable(image-unit-tests ${IMAGE_UNIT_SOURCES})
  target_link_libraries(image-unit-tests PRIVATE crunner-image-core Catch2::Catch2)
  catch_discover_tests(image-unit-tests TEST_PREFIX "image unit: " EXTRA_ARGS --warn NoTests
                       PROPERTIES LABELS quick)
endif()
