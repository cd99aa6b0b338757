# Functions read as named steps: none in libcontainer/ or garden/api/ longer than 120 lines
# (scripts/function-lengths.sh, universal-ctags), and the check itself fails on a long one.
add_test(NAME "code: function lengths"
         COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/function-lengths.sh)
add_test(NAME "code: function lengths (self-test)"
         COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/function-lengths.sh --self-test)
set_tests_properties("code: function lengths" "code: function lengths (self-test)"
                     PROPERTIES LABELS quick)
