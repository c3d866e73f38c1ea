// kvnetd's image verbs (`kvnetctl image ...`): the image store
// (daemon/image_store.h). An import only starts here: `image show` follows
// it (state, progress) until it is ready or failed.
#include <cmath>

#include "daemon/image_store.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

namespace {

json image_json(const StoredImage& im) {
  json j{{"name", im.name},
         {"state", im.state},
         {"format", "qcow2"},
         {"path", im.path},
         {"source", im.source},
         {"source_format", im.source_format},
         {"virtual_size", im.virtual_size},
         {"file_size", im.file_size},
         {"imported", im.imported},
         {"progress", std::round(im.progress) / 100.0}};
  if (!im.error.empty()) j["error"] = im.error;
  if (!im.kernel.empty()) {
    j["kernel"] = im.kernel;
    j["initrd"] = im.initrd;
    j["cmdline"] = im.cmdline;
  }
  return j;
}

class ImageVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> import(const Args& a);
  Result<json> list(const Args& a);
  Result<json> show(const Args& a);
  Result<json> del(const Args& a);

 private:
  Status need_store() const {
    if (!images_) return Error{"this kvnetd keeps no images (its --image-dir could not be used: see its log)"};
    return Ok{};
  }
};

Result<json> ImageVerbs::import(const Args& a) {
  if (auto s = need_store(); !s) return s.error();
  TRY(name, a.str("name"));
  TRY(file, a.str("file"));
  ImportBoot boot;
  TRY(kernel, a.str("kernel", false));
  TRY(initrd, a.str("initrd", false));
  TRY(cmdline, a.str("cmdline", false));
  boot = {kernel, initrd, cmdline};
  TRY(im, images_->import(name, file, boot));
  return image_json(im);
}

Result<json> ImageVerbs::list(const Args&) {
  if (auto s = need_store(); !s) return s.error();
  json out = json::array();
  for (const auto& im : images_->list()) out.push_back(image_json(im));
  return out;
}

Result<json> ImageVerbs::show(const Args& a) {
  if (auto s = need_store(); !s) return s.error();
  TRY(name, a.str("name"));
  auto im = images_->find(name);
  if (!im) return Error{"image '" + name + "' does not exist"};
  return image_json(*im);
}

Result<json> ImageVerbs::del(const Args& a) {
  if (auto s = need_store(); !s) return s.error();
  TRY(name, a.str("name"));
  // In use: a VM of it (its overlay reads the image).
  auto user = [this](const std::string& image) {
    for (const auto& v : cur_.vms)
      if (v.image == image) return "vm '" + v.name + "'";
    return std::string();
  };
  if (auto s = images_->remove(name, user); !s) return s.error();
  return json{{"changed", true}, {"changes", {"- image " + name}}};
}

}  // namespace

std::span<const Verb> image_verbs() {
  static const Verb kVerbs[] = {
      {"image-import", false, true, &verb<ImageVerbs, &ImageVerbs::import>},
      {"image-list", false, false, &verb<ImageVerbs, &ImageVerbs::list>},
      {"image-show", false, false, &verb<ImageVerbs, &ImageVerbs::show>},
      {"image-del", false, true, &verb<ImageVerbs, &ImageVerbs::del>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
