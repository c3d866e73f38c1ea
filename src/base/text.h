// Small text helpers for messages that may carry bytes a user sent.
//
// Error messages echo what the user wrote ("port 'x': ..."), and answers go
// out as JSON, which must be valid UTF-8. `valid_utf8()` replaces every byte
// that is not part of a well-formed UTF-8 sequence with U+FFFD, so an echoed
// name can never make an answer unencodable. `utf8_prefix()` cuts a string to
// at most n bytes without splitting a character. `has_control()` finds the
// bytes that have no business in an address, a file or an interface name
// (NUL, which C APIs read as the end, and the other ASCII controls);
// `printable()` shows them as \xNN in a message. `trim()` drops white space
// at both ends.
#pragma once

#include <string>
#include <string_view>

namespace kvnet {

std::string valid_utf8(std::string_view s);
std::string utf8_prefix(std::string_view s, size_t max_bytes);
bool has_control(std::string_view s);
std::string printable(std::string_view s);
std::string_view trim(std::string_view s);

}  // namespace kvnet
