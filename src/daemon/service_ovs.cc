// The `vsctl` verb: an ovs-vsctl command line (kvnetctl's ovs-vsctl forms)
// run against the Open_vSwitch database bound to the configuration
// (ovsdb/vsctl.h, daemon/ovs_binding.h): reads answer from it, the writes
// are one OVSDB transaction, which is one kvnet change or none.
#include "daemon/ovs_binding.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "ovsdb/vsctl.h"

namespace kvnet::daemon {
namespace {

class OvsVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;

  Result<json> vsctl(const Args& a) {
    TRY(args, a.strings("args"));
    if (args.empty()) return Error{"'args' must be a non-empty list of strings"};
    OvsBinding& binding = ovs();
    ovsdb::Server& server = binding.server();
    auto r = ovsdb::run_vsctl(server.vswitch(), args, [&](const json& ops) -> Status {
      binding.set_logging(false);  // the API's request log has this change
      const json reply = server.transact_local(ops);
      binding.set_logging(true);
      for (const auto& x : reply)
        if (x.is_object() && x.contains("error")) {
          // kvnet's refusal: its own message; OVSDB's: tag and details.
          if (x["error"] == "kvnet error") return Error{x.value("details", std::string("refused"))};
          return Error{x["error"].get<std::string>() + (x.contains("details") ? ": " + x["details"].get<std::string>() : "")};
        }
      return Ok{};
    });
    if (!r) return r.error();
    json out{{"output", r->output}, {"changed", r->changed}, {"exit_code", r->exit_code}};
    if (r->changed) out["changes"] = binding.last_changes();  // the plan, as other changes answer
    return out;
  }
};

}  // namespace

std::span<const Verb> ovs_verbs() {
  static const Verb kVerbs[] = {{"vsctl", true, false, &verb<OvsVerbs, &OvsVerbs::vsctl>}};
  return kVerbs;
}

}  // namespace kvnet::daemon
