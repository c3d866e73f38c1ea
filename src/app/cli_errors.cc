#include "app/cli_errors.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <regex>

namespace kvnet::app {

namespace {

// The command being typed: the program and the subcommands parsed so far
// ("kvnetctl ct"), and the last of them.
struct Typed {
  std::string words;
  const CLI::App* app;
};

Typed typed(const CLI::App& root) {
  Typed t{root.get_name(), &root};
  for (;;) {
    const auto subs = t.app->get_subcommands();
    if (subs.empty()) return t;
    t.app = subs.front();
    t.words += " " + t.app->get_name();
  }
}

// "a, b or c"
std::string choices(std::vector<std::string> names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

// A bound as people write it (4094, 0.5); "" for CLI11's stand-in for "no
// bound" (the largest double).
std::string bound(const std::string& text) {
  const double v = std::strtod(text.c_str(), nullptr);
  if (v > 1e15) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, v == static_cast<double>(static_cast<long long>(v)) ? "%.0f" : "%g", v);
  return buf;
}

bool is_number(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return !text.empty() && end && *end == '\0';
}

// CLI11's validator texts, as kvnet says them.
std::string validation(const std::string& what) {
  static const std::regex member(R"(^(\S+): (.*) not in \{(.*)\}$)");
  static const std::regex range(R"(^(\S+): Value (.*) not in range (\S+) to (\S+)$)");
  static const std::regex number(R"(^(\S+): Value (.*) could not be converted.*$)");
  std::smatch m;
  if (std::regex_match(what, m, member)) {
    std::vector<std::string> names;
    const std::string set = m[3];
    for (size_t at = 0; at <= set.size();) {
      const size_t comma = std::min(set.find(',', at), set.size());
      names.push_back(set.substr(at, comma - at));
      at = comma + 1;
    }
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return m[1].str() + " '" + m[2].str() + "' is unknown (" + list + ")";
  }
  if (std::regex_match(what, m, range)) {
    const std::string lo = bound(m[3]), hi = bound(m[4]), value = m[2];
    if (!is_number(value)) return m[1].str() + " '" + value + "' is not a number";
    const std::string head = m[1].str() + " " + value;
    // PositiveNumber and NonNegativeNumber: from (about) 0, no upper bound.
    if (hi.empty()) return head + (lo == "0" ? " must be positive" : " must be at least " + lo);
    return head + " is out of range " + lo + "-" + hi;
  }
  if (std::regex_match(what, m, number)) return m[1].str() + " '" + m[2].str() + "' is not a number";
  return what;
}

}  // namespace

std::string cli_error_message(const CLI::App& app, const CLI::ParseError& e) {
  const Typed t = typed(app);
  const std::string what = e.what(), help = "; see " + t.words + " --help";
  static const std::regex convert(R"(^Could not convert: (\S+) = (.*)$)");
  static const std::regex extras(R"(^The following arguments? (?:was|were) not expected: (.*)$)");
  static const std::regex count(R"(^Expected (?:exactly|at least) (\d+) arguments? to (\S+), got (\d+)$)");
  std::smatch m;
  std::string msg;
  if (what == "A subcommand is required") {
    std::vector<std::string> names;
    for (const CLI::App* sub : t.app->get_subcommands([](const CLI::App*) { return true; }))
      names.push_back(sub->get_name());
    std::sort(names.begin(), names.end());
    msg = "a command is missing: " + choices(names);
  } else if (dynamic_cast<const CLI::ValidationError*>(&e)) {
    msg = validation(what);
  } else if (std::regex_match(what, m, convert)) {
    msg = m[1].str() + " '" + m[2].str() + "' is not a valid value";
  } else if (std::regex_match(what, m, extras)) {
    msg = "unexpected argument(s): " + m[1].str();
  } else if (std::regex_match(what, m, count)) {
    msg = m[2].str() + " needs " + m[1].str() + " value(s), got " + m[3].str();
  } else {
    msg = what;  // "bridge is required", "--http-token-file requires --http": kvnet's words already
  }
  return t.words + ": " + msg + help;
}

int report_cli_error(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
  std::cerr << cli_error_message(app, e) << "\n";
  return 2;
}

}  // namespace kvnet::app
