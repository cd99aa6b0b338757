# bench/seccomp_cache.cpp: compile vs cached seccomp filter (numbers only). The ctest
# entry just makes sure the benchmark still runs; it asserts no timing.
add_executable(seccomp-cache-bench ${CMAKE_SOURCE_DIR}/bench/seccomp_cache.cpp)
target_link_libraries(seccomp-cache-bench PRIVATE libcrunner)
add_test(NAME "bench: seccomp cache (smoke)" COMMAND seccomp-cache-bench 3)
