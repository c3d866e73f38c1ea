#include "ctl/plan.h"

#include "ctl/objects.h"

namespace kvnet::ctl {

std::vector<KeyChange> diff(const Fields& before, const Fields& after) {
  std::vector<KeyChange> out;
  auto value = [](const Fields& fs, const std::string& k) -> const Field* {
    for (const auto& f : fs)
      if (f.key == k) return &f;
    return nullptr;
  };
  for (const auto& a : after) {
    const Field* b = value(before, a.key);
    if (!b || b->value != a.value) out.push_back({a.key, b ? b->value : "", a.value});
  }
  for (const auto& b : before)
    if (!value(after, b.key)) out.push_back({b.key, b.value, ""});
  return out;
}

std::string PlanLine::str() const {
  std::string s = std::string(1, op) + " " + what + " " + object;
  for (const auto& k : keys)
    s += " " + k.key + " " + (k.before.empty() ? "(none)" : k.before) + "->" + (k.after.empty() ? "(none)" : k.after);
  return s;
}

std::vector<std::string> Plan::text() const {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.str());
  return out;
}

Plan plan(const Topology& cur, const Topology& next, const Scope& scope) {
  Plan p;
  p.scope = scope;
  PlanLines lines;
  for (const ObjectType* type : object_types()) type->plan(cur, next, lines, p);
  for (auto* v : {&lines.minus, &lines.tilde, &lines.plus})
    for (auto& l : *v) p.lines.push_back(std::move(l));
  return p;
}

}  // namespace kvnet::ctl
