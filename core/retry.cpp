#include "core/retry.hpp"
