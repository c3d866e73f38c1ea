#include "daemon/http_loop_call.h"

#include <optional>
#include <string>

namespace kvnet::daemon {

LoopCaller::LoopCaller(EventLoop& loop) : loop_(loop), shared_(std::make_shared<Shared>()) {}

Result<nlohmann::json> LoopCaller::call(std::function<nlohmann::json()> fn, std::chrono::milliseconds timeout) {
  struct Slot {
    std::optional<nlohmann::json> answer;
    std::string error;
    bool done = false;
  };
  auto slot = std::make_shared<Slot>();
  auto shared = shared_;
  {
    std::lock_guard<std::mutex> g(shared->mu);
    if (shared->closed) return Error{"kvnetd is stopping"};
  }
  loop_.post([shared, slot, fn = std::move(fn)] {
    std::optional<nlohmann::json> answer;
    std::string error;
    try {
      answer = fn();
    } catch (const std::exception& e) {
      error = std::string("internal error: ") + e.what();
    }
    std::lock_guard<std::mutex> g(shared->mu);
    slot->answer = std::move(answer);
    slot->error = std::move(error);
    slot->done = true;
    shared->cv.notify_all();
  });
  std::unique_lock<std::mutex> lk(shared->mu);
  if (!shared->cv.wait_for(lk, timeout, [&] { return slot->done || shared->closed; }))
    return Error{"kvnetd's control loop did not answer within " + std::to_string(timeout.count()) + " ms"};
  if (!slot->done) return Error{"kvnetd is stopping"};
  if (!slot->answer) return Error{slot->error};
  return std::move(*slot->answer);
}

void LoopCaller::close() {
  std::lock_guard<std::mutex> g(shared_->mu);
  shared_->closed = true;
  shared_->cv.notify_all();
}

}  // namespace kvnet::daemon
