// The table of object types. Adding a type: one line here (docs/architecture.md).
#include "ctl/objects.h"

#include "ctl/bridge.h"
#include "ctl/container.h"
#include "ctl/gateway_spec.h"
#include "ctl/mirror_spec.h"
#include "ctl/network.h"
#include "ctl/security.h"
#include "ctl/vm_spec.h"

namespace kvnet::ctl {

std::span<const ObjectType* const> object_types() {
  static const ObjectType* const kTypes[] = {
      &bridge_type(), &mirror_type(), &container_type(), &sg_type(), &vm_type(), &gateway_type(), &network_type(),
  };
  return kTypes;
}

const ObjectType* find_object_type(std::string_view name) {
  for (const ObjectType* t : object_types())
    if (t->name() == name) return t;
  return nullptr;
}

void keep_unlisted_sections(const Topology& from, Topology& to) {
  for (const ObjectType* t : object_types()) t->keep_unlisted(from, to);
}

}  // namespace kvnet::ctl
