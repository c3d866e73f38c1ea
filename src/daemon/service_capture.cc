// The `capture` command: a live capture of one port (kvnetctl capture).
#include <functional>

#include "base/text.h"
#include "daemon/capture_stream.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "io/capture_filter.h"

namespace kvnet::daemon {
namespace {

// A capture whose filter compiles off the loop (io/capture_filter.h): it
// sends nothing until the compile ends, then the answer line -- and the
// capture's own stream after it, or nothing more if it failed. It counts as
// a capture while it waits.
class PendingCapture final : public ApiStream {
 public:
  using Finish = std::function<Result<ApiStreamStart>(io::FilterProgram)>;
  PendingCapture(std::unique_ptr<io::FilterCompile> compile, Finish finish, std::shared_ptr<size_t> live)
      : compile_(std::move(compile)), finish_(std::move(finish)), live_(std::move(live)) {
    ++*live_;
  }
  ~PendingCapture() override { release(); }

  std::chrono::milliseconds period() const override { return std::chrono::milliseconds(20); }
  bool pull(std::string& out, size_t max) override {
    if (inner_) return inner_->pull(out, max);
    if (done_) return false;
    Result<ApiStreamStart> started = Error{"capture not started: " + why_};
    if (why_.empty()) {
      auto r = compile_->poll();
      if (!r) return true;  // still compiling
      release();
      started = *r ? finish_(std::move(**r)) : Result<ApiStreamStart>(r->error());
    }
    release();
    compile_.reset();
    if (!started) {
      out += encode_answer(api_error(valid_utf8(started.error().message)));
      done_ = true;
      return false;
    }
    out += encode_answer(nlohmann::json{{"ok", true}, {"result", std::move(started->result)}});
    inner_ = std::move(started->stream);
    return true;
  }
  void end(const std::string& why) override {
    if (inner_) return inner_->end(why);
    if (why_.empty()) why_ = why;
  }

 private:
  void release() {
    if (counted_) --*live_;
    counted_ = false;
  }
  std::unique_ptr<io::FilterCompile> compile_;
  Finish finish_;
  std::shared_ptr<size_t> live_;
  bool counted_ = true;
  std::unique_ptr<ApiStream> inner_;
  bool done_ = false;
  std::string why_;  // ended before the compile did
};

}  // namespace

Result<ApiStreamStart> Service::capture(const json& req) {
  const Args a(req);
  TRY(port, a.str("port"));
  TRY(dir, a.str("direction", false));
  io::CaptureOptions o;
  if (dir == "in") o.out = false;
  else if (dir == "out") o.in = false;
  else if (!dir.empty() && dir != "both")
    return Error{"argument 'direction' must be in, out or both, not '" + valid_utf8(dir) + "'"};
  if (a.has("vlan")) {
    TRY(vlan, a.integer("vlan", 1, 4094));
    o.vlan = static_cast<uint16_t>(vlan);
  }
  TRY(filter, a.str("filter", false));
  o.filter = filter;
  if (a.has("count")) {
    TRY(count, a.integer("count", 1, int64_t{1} << 53));
    o.count = static_cast<uint64_t>(count);
  }
  if (a.has("snaplen")) {
    TRY(snaplen, a.integer("snaplen", 64, io::kDefaultSnaplen));
    o.snaplen = static_cast<uint32_t>(snaplen);
  }
  // Installs the tap; again once a filter has compiled (the port may be gone).
  auto install = [this, port, o](io::FilterProgram prog) -> Result<ApiStreamStart> {
    const ctl::BridgeSpec* b = nullptr;
    const ctl::PortSpec* p = cur_.find_port(port, &b);
    const auto live = p ? live_.find(p->name) : live_.end();
    if (!p || live == live_.end()) return Error{"port '" + valid_utf8(port) + "' does not exist"};
    if (*captures_ >= kMaxCaptures)
      return Error{"too many captures at once (limit " + std::to_string(kMaxCaptures) + "): end one first"};
    auto cap = io::Capture::create(o, std::move(prog));
    dp_.tap_add(live->second.id, cap);
    json result{{"port", p->name},
                {"bridge", b->name},
                {"type", std::string(p->kind->name())},
                {"direction", o.in && o.out ? "both" : o.in ? "in" : "out"},
                {"vlan", o.vlan},
                {"filter", o.filter},
                {"count", o.count},
                {"snaplen", o.snaplen},
                {"buffer_bytes", o.ring_bytes}};
    return ApiStreamStart{std::move(result),
                          std::make_unique<CaptureStream>(dp_, live->second.id, p->name, cap, captures_)};
  };
  if (o.filter.empty()) return install({});
  // Everything that can be refused at once is, before a compile starts.
  if (const ctl::PortSpec* p = cur_.find_port(port, nullptr); !p || !live_.count(p->name))
    return Error{"port '" + valid_utf8(port) + "' does not exist"};
  if (*captures_ >= kMaxCaptures)
    return Error{"too many captures at once (limit " + std::to_string(kMaxCaptures) + "): end one first"};
  TRY(compile, io::FilterCompile::start(o.filter, o.snaplen));
  ApiStreamStart s;
  s.stream = std::make_unique<PendingCapture>(std::move(compile), install, captures_);
  s.answer_in_stream = true;
  return s;
}

}  // namespace kvnet::daemon
