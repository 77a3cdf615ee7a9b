#include "core/atomic_file.hpp"
