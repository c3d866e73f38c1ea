// The cloud-init NoCloud seed kvnet writes for a VM booted from an image: a
// small ISO9660 volume labelled "cidata" (cloud-init 22.4 looks for
// LABEL=cidata/CIDATA) holding four files at its root:
//
//   meta-data       instance-id, local-hostname, public-keys (the --ssh-key
//                   keys: NoCloud hands them to the image's default user, so
//                   they never collide with the user's own user-data)
//   user-data       the user's --user-data file verbatim, else a minimal
//                   #cloud-config
//   vendor-data     kvnet's defaults, which user-data overrides: the final
//                   message carrying the console ready marker (vm/console.h)
//                   and network-config re-applied on every boot
//   network-config  netplan version 2, bare top level (22.4 has no
//                   `network:` wrapper), NICs matched by MAC, no set-name
//                   (22.4's networkd renderer writes no .link files)
//
// The renderers are pure and emit through yaml-cpp with every string
// double-quoted, so no hostname, key comment or address can add YAML
// structure; the caller has validated the values (ctl/vm_spec.h). The file
// checks (ssh keys, user-data) take what a user gave on the command line
// and say what is wrong with it, naming the line.
//
// write_seed() builds the volume with genisoimage (Debian's genisoimage
// package), synchronously (tens of milliseconds), in a private temporary
// directory beside the target (".NAME.XXXXXX"), and renames the result into
// place: the target is the old seed or the new one, never a half-written
// one, and nothing else is left behind (unless the process dies meanwhile:
// then the hidden directory stays).
//
// Thread-safety: plain functions; write_seed() spawns and waits for one
// child process (any thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kvnet::vm {

struct SeedNic {
  std::string mac;               // matched by network-config (written in lower case)
  std::string ip;                // CIDR (IPv4 or IPv6), "dhcp", or "" (left unconfigured: not in network-config)
  std::string gw;                // default route of a static ip ("" none): gateway4 or gateway6 by its family
  std::vector<std::string> dns;  // nameservers (static or dhcp)
  uint32_t mtu = 0;              // 0: the guest's default
};

struct SeedInput {
  std::string instance_id;  // changing it re-runs cloud-init's per-instance modules (new host keys)
  std::string hostname;
  std::vector<std::string> ssh_keys;  // authorized_keys lines, as parse_ssh_public_keys() returns them
  std::string user_data;              // "" none: kvnet writes a minimal #cloud-config
  std::vector<SeedNic> nics;          // in the VM's NIC order: nic0, nic1, ...
};

// ---- The seed's files ----------------------------------------------------

// instance-id, local-hostname and public-keys (left out when there is none).
std::string meta_data(const SeedInput& in);
// The user's user-data verbatim, else "#cloud-config\nssh_pwauth: false\n".
std::string user_data(const SeedInput& in);
// #cloud-config with final_message "kvnet-guest: ready HOSTNAME" (the
// hostname reduced to letters, digits, '.', '_' and '-': cloud-init renders
// final_message as a template, where a '$' would name a variable and an
// unknown one loses the whole message) and updates.network.when
// [boot-new-instance, boot].
std::string vendor_data(const SeedInput& in);
// version: 2 with one `ethernets` entry "nicN" per NIC that has an ip (N its
// index in in.nics): a NIC without one is left out, so that systemd-networkd
// does not manage it at all (no IPv6 autoconfiguration either).
std::string network_config(const SeedInput& in);

// ---- What a user gives ----------------------------------------------------

inline constexpr size_t kMaxSshKeys = 100;
inline constexpr size_t kMaxSshKeyLine = 16 << 10;
inline constexpr size_t kMaxSshKeyFile = 1 << 20;
inline constexpr size_t kMaxUserData = 1 << 20;  // NoCloud's practical limit

// The keys of an authorized_keys-style text (a .pub file, or several
// concatenated): one "TYPE BASE64 [COMMENT]" per line, blank lines and '#'
// comments skipped, TYPE one of ssh-ed25519, ssh-rsa,
// ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com,
// sk-ecdsa-sha2-nistp256@openssh.com, ssh-dss, and the key's data naming the
// same type. Options before the type (authorized_keys' "from=..."), a
// private key and an RFC 4716 block are refused. Returns the keys as
// "TYPE BASE64[ COMMENT]"; errors name the line ("line 3: ..."), and a text
// without any key is an error.
Result<std::vector<std::string>> parse_ssh_public_keys(std::string_view text);

// A --user-data file: at most kMaxUserData bytes; gzip (1f 8b) as it is, else
// valid UTF-8 starting with a header cloud-init recognises: #cloud-config
// (and #cloud-config-archive), #!, #include, #cloud-boothook, #part-handler,
// "## template: jinja", or a MIME multipart ("Content-Type:" or
// "MIME-Version:" first, and "MIME-Version:" in the first 4 KiB, which is
// what makes cloud-init read it as MIME). Like cloud-init, the header is
// matched in any case after leading whitespace.
Status check_user_data(std::string_view text);

// ---- The volume -----------------------------------------------------------

// Writes the seed for `in` to `path` (an ISO9660 + Joliet + Rock Ridge
// volume "cidata"), replacing any file there atomically; the new file is
// mode 0640 (user-data may hold secrets). genisoimage must be installed;
// one that runs longer than kSeedTimeoutMs is killed. The error says which
// step failed, with genisoimage's own words.
inline constexpr int kSeedTimeoutMs = 10000;
Status write_seed(const std::string& path, const SeedInput& in);

}  // namespace kvnet::vm
