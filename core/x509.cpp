#include "core/x509.hpp"
