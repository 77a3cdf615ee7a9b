# renewer_config: names and the configuration file (pure library code;
# `renewer run` links it; the replacement step is replace/, renewer_replace).
# Included from renewer/CMakeLists.txt; paths are absolute so any directory
# may include it.
add_library(renewer_config
  ${CMAKE_CURRENT_LIST_DIR}/names.cpp
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/schema.cpp
)
target_link_libraries(renewer_config
  PUBLIC renewer_core renewer_aws renewer_dns renewer_replace nlohmann_json::nlohmann_json
  PRIVATE PkgConfig::IDN2 fmt::fmt)
