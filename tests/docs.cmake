# Man pages and bash completion (docs/man/mkdocs.py): built, then checked that every command
# `crunner --help` lists has a page and a completion entry and the completion parses (~2 s).
if(GO_MD2MAN)
  add_test(NAME "docs: man pages and completion"
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/docs/man/mkdocs.py
                   $<TARGET_FILE:crunner> ${CMAKE_SOURCE_DIR}/docs/man
                   ${CMAKE_BINARY_DIR}/docs-check --check)
endif()
