# Loaded by scripts/lint.sh into the unity compile database it runs
# clang-tidy over (CMAKE_PROJECT_INCLUDE, so no CMakeLists.txt changes).
#
# A unity source is CMake's generated `#include "/abs/path/x.cpp"` list,
# which bugprone-suspicious-include reports once per line. Those includes are
# the batching itself, not product code: each gets a NOLINTNEXTLINE for that
# one check (UNITY_BUILD_CODE_BEFORE_INCLUDE), so a `.cpp` included by a
# product file is still reported. Set at the end of the top-level directory,
# when every target exists.
function(renewer_lint_mark_unity_includes dir)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    set_property(TARGET "${target}" PROPERTY UNITY_BUILD_CODE_BEFORE_INCLUDE
                 "// NOLINTNEXTLINE(bugprone-suspicious-include): a unity batch (scripts/lint.sh)")
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    renewer_lint_mark_unity_includes("${subdir}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL renewer_lint_mark_unity_includes "${CMAKE_SOURCE_DIR}")
