#include "core/result.hpp"

namespace core {

const char* to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid_input: return "invalid input";
        case ErrorKind::network: return "network";
        case ErrorKind::timeout: return "timeout";
        case ErrorKind::http: return "http";
        case ErrorKind::protocol: return "protocol";
        case ErrorKind::auth: return "auth";
        case ErrorKind::not_found: return "not found";
        case ErrorKind::conflict: return "conflict";
        case ErrorKind::crypto: return "crypto";
        case ErrorKind::io: return "io";
        case ErrorKind::cancelled: return "cancelled";
        case ErrorKind::internal: return "internal";
    }
    return "unknown";
}

}  // namespace core
