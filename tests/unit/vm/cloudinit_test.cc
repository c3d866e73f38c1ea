// The NoCloud seed: its four files as text, the checks of what a user gives
// (ssh keys, user-data), and the ISO volume genisoimage makes of them.
#include "vm/cloudinit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "ctl/render.h"
#include "io/process.h"
#include "testing.h"

namespace kvnet::vm {
namespace {

namespace fs = std::filesystem;
using kvnet::testing::error_of;
using namespace std::string_literals;

// ssh-keygen -t ed25519 -C alice@example; -t ecdsa -b 256 -C '' (its .pub ends with a blank).
const std::string kEd25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHH3y2ypfoLLfqNqLPZ8MAVWwO5BYEj0mMHSxsGNZk+G alice@example";
const std::string kEcdsa =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBJQ0C0Asqd2a9uMXDLgMo9Ekcq3Xin0t9+FMdnaRXLO"
    "VwdE8ZLraaz5BAnCqj36MfB8AqokchKqr8kbgAbwiHQ=";

// A key of `type` whose data names `inner` (RFC 4253's string) before `rest`.
std::string key(const std::string& type, const std::string& inner, const std::string& rest = "0123456789abcdef") {
  std::string blob;
  for (int s = 24; s >= 0; s -= 8) blob += static_cast<char>((inner.size() >> s) & 0xff);
  return type + " " + ctl::base64_encode(blob + inner + rest);
}

SeedInput two_nics() {
  SeedInput in{.instance_id = "kvnet-vm1-3f2a", .hostname = "vm1", .ssh_keys = {kEd25519, kEcdsa}};
  in.nics = {
      {.mac = "52:54:00:12:34:56", .ip = "10.0.0.11/24", .gw = "10.0.0.1", .dns = {"10.0.0.1", "9.9.9.9"}, .mtu = 1450},
      {.mac = "52:54:00:AB:CD:EF", .ip = "dhcp"}};
  return in;
}

// ---- The files ------------------------------------------------------------

TEST(CloudInitMetaData, ExactText) {
  EXPECT_EQ(meta_data(two_nics()),
            "instance-id: \"kvnet-vm1-3f2a\"\n"
            "local-hostname: \"vm1\"\n"
            "public-keys:\n"
            "  - \"" +
                kEd25519 +
                "\"\n"
                "  - \"" +
                kEcdsa + "\"\n");
  EXPECT_EQ(meta_data(SeedInput{.instance_id = "i-1", .hostname = "h"}),
            "instance-id: \"i-1\"\nlocal-hostname: \"h\"\n");
}

TEST(CloudInitMetaData, OddHostnamesStayOneValue) {
  const std::string odd[] = {"a: b",
                             "- x",
                             "#x",
                             "{x: 1}",
                             "[x]",
                             "'q'",
                             "\"dq\"",
                             "x\ny: 1",
                             "*alias",
                             "&anchor",
                             "!tag",
                             "|",
                             ">",
                             "%YAML",
                             "@",
                             "`",
                             "null",
                             "~",
                             "yes",
                             "no",
                             "0x1f",
                             "1e3",
                             "12:34:56",
                             "",
                             " lead",
                             "trail ",
                             "tab\there",
                             "back\\slash",
                             "caf\xc3\xa9 \xe6\x97\xa5",
                             "del\x7f",
                             "nul\0in"s,
                             "ls\xe2\x80\xa8sep",
                             "---",
                             "...",
                             "? k",
                             "x # c"};
  for (const std::string& h : odd) {
    SeedInput in{.instance_id = "i", .hostname = h};
    const std::string text = meta_data(in);
    for (char c : text) ASSERT_TRUE(c == '\n' || (c >= 0x20 && c <= 0x7e)) << text;  // plain ASCII
    const YAML::Node n = YAML::Load(text);
    ASSERT_TRUE(n.IsMap()) << text;
    EXPECT_EQ(n.size(), 2u) << text;
    EXPECT_EQ(n["local-hostname"].as<std::string>(), h) << text;
    EXPECT_EQ(n["instance-id"].as<std::string>(), "i") << text;
  }
  // What is not UTF-8 becomes U+FFFD (the files must be UTF-8 for cloud-init).
  const YAML::Node n = YAML::Load(meta_data(SeedInput{.instance_id = "i", .hostname = "a\xff"}));
  EXPECT_EQ(n["local-hostname"].as<std::string>(), "a\xef\xbf\xbd");
}

TEST(CloudInitUserData, TheUsersOrAMinimalCloudConfig) {
  EXPECT_EQ(user_data(SeedInput{}), "#cloud-config\nssh_pwauth: false\n");
  EXPECT_EQ(user_data(SeedInput{.user_data = "#!/bin/sh\necho hi\n"}), "#!/bin/sh\necho hi\n");
}

TEST(CloudInitVendorData, ExactText) {
  EXPECT_EQ(vendor_data(two_nics()),
            "#cloud-config\n"
            "final_message: \"kvnet-guest: ready vm1\"\n"
            "updates:\n"
            "  network:\n"
            "    when:\n"
            "      - \"boot-new-instance\"\n"
            "      - \"boot\"\n");
  // cloud-init renders final_message as a template: no '$' (or anything but
  // a hostname's characters) may reach it.
  const YAML::Node n = YAML::Load(vendor_data(SeedInput{.hostname = "a$b {{c}}\n"}));
  EXPECT_EQ(n["final_message"].as<std::string>(), "kvnet-guest: ready a_b___c___");
  EXPECT_EQ(YAML::Load(vendor_data(SeedInput{}))["final_message"].as<std::string>(), "kvnet-guest: ready");
}

TEST(CloudInitNetworkConfig, StaticV4WithDnsAndMtuAndDhcp) {
  EXPECT_EQ(network_config(two_nics()),
            "version: 2\n"
            "ethernets:\n"
            "  nic0:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:12:34:56\"\n"
            "    addresses:\n"
            "      - \"10.0.0.11/24\"\n"
            "    gateway4: \"10.0.0.1\"\n"
            "    nameservers:\n"
            "      addresses:\n"
            "        - \"10.0.0.1\"\n"
            "        - \"9.9.9.9\"\n"
            "    mtu: 1450\n"
            "  nic1:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:ab:cd:ef\"\n"
            "    dhcp4: true\n");
}

TEST(CloudInitNetworkConfig, StaticV6) {
  SeedInput in;
  in.nics = {{.mac = "52:54:00:00:00:01", .ip = "2001:db8::5/64", .gw = "2001:db8::1", .dns = {"2001:db8::53"}}};
  EXPECT_EQ(network_config(in),
            "version: 2\n"
            "ethernets:\n"
            "  nic0:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:00:00:01\"\n"
            "    addresses:\n"
            "      - \"2001:db8::5/64\"\n"
            "    gateway6: \"2001:db8::1\"\n"
            "    nameservers:\n"
            "      addresses:\n"
            "        - \"2001:db8::53\"\n");
}

TEST(CloudInitNetworkConfig, NicsWithoutAnIpAreLeftOut) {
  SeedInput in;
  in.nics = {{.mac = "52:54:00:00:00:01", .mtu = 9000},
             {.mac = "52:54:00:00:00:02", .ip = "10.1.0.2/16"},
             {.mac = "52:54:00:00:00:03", .ip = "dhcp", .gw = "10.9.9.9", .mtu = 1400}};
  // nicN keeps the NIC's index; a dhcp NIC takes no gateway (DHCP gives one).
  EXPECT_EQ(network_config(in),
            "version: 2\n"
            "ethernets:\n"
            "  nic1:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:00:00:02\"\n"
            "    addresses:\n"
            "      - \"10.1.0.2/16\"\n"
            "  nic2:\n"
            "    match:\n"
            "      macaddress: \"52:54:00:00:00:03\"\n"
            "    dhcp4: true\n"
            "    mtu: 1400\n");
  in.nics.resize(1);
  EXPECT_EQ(network_config(in), "version: 2\nethernets: {}\n");
  EXPECT_EQ(network_config(SeedInput{}), "version: 2\nethernets: {}\n");
  const YAML::Node n = YAML::Load(network_config(in));
  EXPECT_TRUE(n["ethernets"].IsMap());
  EXPECT_EQ(n["ethernets"].size(), 0u);
}

TEST(CloudInitNetworkConfig, ParsesAsTheValuesWentIn) {
  const YAML::Node n = YAML::Load(network_config(two_nics()));
  EXPECT_EQ(n["version"].as<int>(), 2);
  EXPECT_EQ(n["ethernets"]["nic0"]["match"]["macaddress"].as<std::string>(), "52:54:00:12:34:56");
  EXPECT_EQ(n["ethernets"]["nic0"]["mtu"].as<int>(), 1450);
  EXPECT_EQ(n["ethernets"]["nic0"]["nameservers"]["addresses"][1].as<std::string>(), "9.9.9.9");
  EXPECT_TRUE(n["ethernets"]["nic1"]["dhcp4"].as<bool>());
}

// ---- SSH keys -------------------------------------------------------------

TEST(CloudInitSshKeys, GoodKeys) {
  const std::string text = "# my keys\n\n" + kEd25519 + "\r\n  " + kEcdsa + " \n\t# indented comment\n" +
                           key("ssh-rsa", "ssh-rsa") + "\tsome  comment  \n" +
                           key("sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com") + "\n" +
                           key("ssh-dss", "ssh-dss") + " \xc3\xa9t\xc3\xa9";  // no final newline
  auto keys = parse_ssh_public_keys(text);
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 5u);
  EXPECT_EQ((*keys)[0], kEd25519);
  EXPECT_EQ((*keys)[1], kEcdsa);
  EXPECT_EQ((*keys)[2], key("ssh-rsa", "ssh-rsa") + " some  comment");
  EXPECT_EQ((*keys)[3], key("sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com"));
  EXPECT_EQ((*keys)[4], key("ssh-dss", "ssh-dss") + " \xc3\xa9t\xc3\xa9");
  for (const char* t : {"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com"})
    EXPECT_TRUE(parse_ssh_public_keys(key(t, t))) << t;
}

TEST(CloudInitSshKeys, ErrorsNameTheLine) {
  const std::pair<std::string, std::string> bad[] = {
      {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE "
       "KEY-----\n",
       "line 1: this is a private key: give the public one (.pub)"},
      {"# a comment\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
       "line 2: this is a private key: give the public one (.pub)"},
      {"PuTTY-User-Key-File-3: ssh-ed25519\n", "line 1: this is a private key (PuTTY): give the public one (.pub)"},
      {"---- BEGIN SSH2 PUBLIC KEY ----\n",
       "line 1: an RFC 4716 public key: convert it to OpenSSH's format (ssh-keygen -i -f FILE)"},
      {kEd25519 + "\nssh-ed25519 AAAA!!!! x\n", "line 2: the key data is not valid base64"},
      {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHH3y2ypfoLLfqNqLPZ8MAVWwO5BYEj0mMHSxsGNZk+\n",
       "line 1: the key data is not valid base64"},
      {"from=\"10.0.0.0/8\",no-pty " + kEd25519 + "\n",
       "line 1: options before the key type are not accepted: give the key alone (TYPE BASE64 [COMMENT])"},
      {"command=\"x y\" " + kEd25519 + "\n",
       "line 1: options before the key type are not accepted: give the key alone (TYPE BASE64 [COMMENT])"},
      {"ssh-foo AAAA\n",
       "line 1: 'ssh-foo' is not an SSH public key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, "
       "ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, "
       "ssh-dss)"},
      {"ssh-ed25519\n", "line 1: ssh-ed25519 without its key data"},
      {key("ssh-rsa", "ssh-ed25519"), "line 1: the key data is not a ssh-rsa key but ssh-ed25519"},
      {key("ssh-rsa", "bogus"), "line 1: the key data is not a ssh-rsa key"},
      {key("ssh-rsa", "ssh-rsa", ""), "line 1: the key data holds no key"},
      {"ssh-rsa AAAA", "line 1: the key data is too short for a ssh-rsa key"},
      {kEd25519 + " bad\x01" + "comment", "line 1: the comment holds a control character"},
      {kEd25519 + " bad\xff", "line 1: the comment is not valid UTF-8"},
      {"", "no public key in it (only blank lines and comments)"},
      {"# only\n\n   \n", "no public key in it (only blank lines and comments)"},
      {"\n\n" + std::string(kMaxSshKeyLine + 1, 'a'), "line 3: longer than 16384 bytes"},
      {std::string(kMaxSshKeyFile + 1, '\n'), "longer than 1 MiB"},
  };
  for (const auto& [text, msg] : bad) {
    auto r = parse_ssh_public_keys(text);
    ASSERT_FALSE(r) << text.substr(0, 80);
    EXPECT_EQ(r.error().message, msg) << text.substr(0, 80);
  }
}

TEST(CloudInitSshKeys, AtMostAHundred) {
  std::string text;
  for (size_t i = 0; i < kMaxSshKeys; ++i) text += kEd25519 + " k" + std::to_string(i) + "\n";
  auto keys = parse_ssh_public_keys(text);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->size(), 100u);
  auto more = parse_ssh_public_keys(text + "# one more\n" + kEcdsa + "\n");
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().message, "line 102: more than 100 keys");
}

// ---- user-data ------------------------------------------------------------

TEST(CloudInitUserDataCheck, TheHeadersCloudInitRecognises) {
  for (const char* ok :
       {"#cloud-config\npackages: [htop]\n", "#!/bin/sh\necho hi\n", "#include\nhttps://x/y\n",
        "#include-once\nhttps://x/y\n", "#cloud-boothook\n#!/bin/sh\n", "#part-handler\ndef x(): pass\n",
        "#cloud-config-archive\n- type: text/cloud-config\n", "## template: jinja\n#cloud-config\n",
        "##template:JINJA\n#cloud-config\n", "#Cloud-Config\n", "\n  #cloud-config\n",
        "Content-Type: multipart/mixed; boundary=\"==b==\"\nMIME-Version: 1.0\n\n--==b==\n",
        "MIME-Version: 1.0\nContent-Type: multipart/mixed\n", "#cloud-config\ncaf\xc3\xa9: 1\n"})
    EXPECT_EQ(error_of(check_user_data(ok)), "") << ok;
  // gzip, as it is (cloud-init decompresses it first).
  EXPECT_EQ(error_of(check_user_data(std::string("\x1f\x8b\x08\x00\xff\xfe", 6))), "");
}

TEST(CloudInitUserDataCheck, Refusals) {
  const std::string accepted =
      "cloud-init recognises #cloud-config, #cloud-config-archive, #!, #include, #cloud-boothook, #part-handler, "
      "'## template: jinja', a MIME multipart (Content-Type:, MIME-Version:) or gzip";
  EXPECT_EQ(error_of(check_user_data("")), "user-data is empty");
  EXPECT_EQ(error_of(check_user_data("packages: [htop]\n")), "user-data starts with 'packages: [htop]': " + accepted);
  EXPECT_EQ(error_of(check_user_data("## template: basic\n#cloud-config\n")),
            "user-data starts with '## template: basic': " + accepted);
  EXPECT_EQ(error_of(check_user_data("#cloud-config\nok: 1\nbad: \xc3\n")), "user-data is not valid UTF-8 (line 3)");
  EXPECT_EQ(error_of(check_user_data("#cloud-config\n\xed\xa0\x80\n")), "user-data is not valid UTF-8 (line 2)");
  EXPECT_EQ(error_of(check_user_data("Content-Type: multipart/mixed; boundary=b\n\n--b\n")),
            "user-data looks like MIME but has no MIME-Version: header in its first 4 KiB (cloud-init would not read "
            "it as MIME)");
  EXPECT_EQ(error_of(check_user_data("#cloud-config\n" + std::string(kMaxUserData, '#'))),
            "user-data is 1048590 bytes: at most 1 MiB (1048576 bytes)");
  EXPECT_EQ(error_of(check_user_data("#cloud-config\n" + std::string(kMaxUserData - 14, '#'))), "");
}

// ---- The volume -----------------------------------------------------------

class CloudInitSeed : public ::testing::Test {
 protected:
  void SetUp() override {
    if (io::find_in_path("genisoimage").empty()) GTEST_SKIP() << "genisoimage is not installed";
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-seed-" + std::to_string(getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  // The output of a command run through the shell ("" if it failed).
  static std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    return ::pclose(p) == 0 ? out : "";
  }
  fs::path dir_;
};

TEST_F(CloudInitSeed, WritesAnIsoLabelledCidata) {
  const std::string path = (dir_ / "seed.iso").string();
  const SeedInput in = two_nics();
  ASSERT_EQ(error_of(write_seed(path, in)), "");
  EXPECT_EQ(listing(), std::vector<std::string>{"seed.iso"});  // nothing else left
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const std::string iso = read_file(path);
  ASSERT_GT(iso.size(), 32808u + 32);
  EXPECT_EQ(iso.substr(32769, 5), "CD001");  // the primary volume descriptor at sector 16
  EXPECT_EQ(iso.substr(32808, 32), "cidata" + std::string(26, ' '));

  if (io::find_in_path("isoinfo").empty()) GTEST_SKIP() << "isoinfo is not installed: the files are not read back";
  const std::string list = run("isoinfo -R -l -i '" + path + "'");
  for (const char* f : {" meta-data", " user-data", " vendor-data", " network-config"})
    EXPECT_NE(list.find(f), std::string::npos) << list;
  EXPECT_EQ(run("isoinfo -R -x /meta-data -i '" + path + "'"), meta_data(in));
  EXPECT_EQ(run("isoinfo -R -x /user-data -i '" + path + "'"), user_data(in));
  EXPECT_EQ(run("isoinfo -R -x /vendor-data -i '" + path + "'"), vendor_data(in));
  EXPECT_EQ(run("isoinfo -R -x /network-config -i '" + path + "'"), network_config(in));
}

TEST_F(CloudInitSeed, ReplacesAnOldSeed) {
  const std::string path = (dir_ / "seed.iso").string();
  ASSERT_EQ(error_of(write_seed(path, two_nics())), "");
  SeedInput in = two_nics();
  in.user_data = "#cloud-config\nruncmd: [[touch, /x]]\n";
  ASSERT_EQ(error_of(write_seed(path, in)), "");
  EXPECT_EQ(listing(), std::vector<std::string>{"seed.iso"});
  EXPECT_NE(read_file(path).find("runcmd: [[touch, /x]]"), std::string::npos);
}

TEST_F(CloudInitSeed, FailuresLeaveNothingBehind) {
  const std::string path = (dir_ / "seed.iso").string();
  { std::ofstream(path) << "old seed"; }
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  // A genisoimage that fails, saying why on stderr.
  const fs::path bin = dir_ / "bin";
  fs::create_directories(bin);
  {
    std::ofstream(bin / "genisoimage") << "#!/bin/sh\necho 'genisoimage: Uh oh, I cant find the boot image' >&2\n"
                                          "echo 'second line' >&2\nexit 3\n";
  }
  fs::permissions(bin / "genisoimage", fs::perms::owner_all);
  ::setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  const Status failed = write_seed(path, two_nics());
  ::setenv("PATH", "/nonexistent", 1);
  const Status missing = write_seed(path, two_nics());
  ::setenv("PATH", old_path.c_str(), 1);
  EXPECT_EQ(error_of(failed), "seed " + path +
                                  ": genisoimage failed (exit status 3): genisoimage: Uh oh, I cant "
                                  "find the boot image second line");
  EXPECT_EQ(error_of(missing), "seed " + path + ": genisoimage is not installed (apt-get install genisoimage)");
  fs::remove_all(bin);
  EXPECT_EQ(listing(), std::vector<std::string>{"seed.iso"});
  EXPECT_EQ(read_file(path), "old seed");

  const std::string nowhere = (dir_ / "no-such-dir" / "seed.iso").string();
  EXPECT_EQ(error_of(write_seed(nowhere, two_nics()))
                .rfind("seed " + nowhere + ": cannot create a temporary directory in ", 0),
            0u);
}

}  // namespace
}  // namespace kvnet::vm
