# `ctest` in the repository root runs the suite of the build folder `build`
# (the one scripts/test.sh and scripts/demo.sh use); for another build folder:
# `ctest --test-dir build-clang`.
if(EXISTS build/CTestTestfile.cmake)
  subdirs(build)
else()
  message(WARNING "no tests yet: build/ is not configured (scripts/test.sh, or cmake -S . -B build)")
endif()
