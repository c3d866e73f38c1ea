// kvnet's own words for what CLI11 rejects on a command line.
//
// CLI11 says "A subcommand is required" or "table: Port not in
// {port,bridge}"; kvnet's programs say which command was being typed, what
// is wrong with it and what the valid choices are ("kvnetctl ct: a command
// is missing: add, del, exec or list (see kvnetctl ct --help)", "kvnetctl
// get: table 'Port' is unknown (port, bridge)"). Shared by kvnet, kvnetd and
// kvnetctl.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace kvnet::app {

// The message for a parse error (not --help or --version), without a
// trailing newline.
std::string cli_error_message(const CLI::App& app, const CLI::ParseError& e);

// Prints --help or --version (exit status 0) or cli_error_message() on
// stderr (exit status 2); returns that status.
int report_cli_error(const CLI::App& app, const CLI::ParseError& e);

}  // namespace kvnet::app
