# The layer order of docs/DESIGN.md §2: every `#include "folder/..."` in the repo runs down
# (scripts/check-layers.py), and the check itself fails on an include that runs up or sideways.
add_test(NAME "layers: every include runs down"
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/check-layers.py)
add_test(NAME "layers: check-layers fails on an upward include"
         COMMAND ${Python3_EXECUTABLE} -u ${CMAKE_CURRENT_SOURCE_DIR}/layers/test_check_layers.py)
set_tests_properties("layers: every include runs down"
                     "layers: check-layers fails on an upward include" PROPERTIES LABELS quick TIMEOUT 60)
