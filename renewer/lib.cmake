# renewer_config: names, the configuration file and the replacement step
# (pure library code; `renewer run` links it). Included from
# renewer/CMakeLists.txt; paths are absolute so any directory may include it.
add_library(renewer_config
  ${CMAKE_CURRENT_LIST_DIR}/names.cpp
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/schema.cpp
  ${CMAKE_CURRENT_LIST_DIR}/replace.cpp
)
target_link_libraries(renewer_config
  PUBLIC renewer_core renewer_aws renewer_dns nlohmann_json::nlohmann_json
  PRIVATE PkgConfig::IDN2 fmt::fmt pugixml::pugixml)
