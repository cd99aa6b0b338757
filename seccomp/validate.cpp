// Parsing and validation of linux.seccomp; every error names the field path.
#include <string>

#include "seccomp/names.hpp"
#include "seccomp/profile.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner::seccomp {

using json = nlohmann::json;

namespace {

Error bad(const std::string& where, const std::string& what) {
  return invalid_spec(where + ": " + what);
}

const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> get_string(const json& j, const std::string& where) {
  if (!j.is_string()) return bad(where, "must be a string");
  return j.get<std::string>();
}

Result<uint64_t> get_u64(const json& j, const std::string& where) {
  if (!j.is_number_integer() || (!j.is_number_unsigned() && j.get<int64_t>() < 0))
    return bad(where, "must be an unsigned integer");
  return j.get<uint64_t>();
}

Result<uint32_t> get_errno(const json& j, const std::string& where) {
  CR_ASSIGN(uint64_t v, get_u64(j, where));
  if (v > 0xffff) return bad(where, "must be at most 65535");
  return static_cast<uint32_t>(v);
}

Status require_array(const json& j, const std::string& where) {
  if (!j.is_array()) return bad(where, "must be an array");
  return {};
}

Result<const names::Action*> get_action(const json& j, const std::string& where) {
  CR_ASSIGN(std::string name, get_string(j, where));
  const names::Action* a = names::find_action(name);
  if (!a) return bad(where, "unknown action \"" + name + "\"");
  return a;
}

Result<Arg> parse_arg(const json& j, const std::string& where) {
  if (!j.is_object()) return bad(where, "must be an object");
  Arg a;
  auto idx = field(j, "index");
  if (!idx) return bad(where + ".index", "is required");
  CR_ASSIGN(uint64_t index, get_u64(*idx, where + ".index"));
  if (index > 5) return bad(where + ".index", "must be between 0 and 5");
  a.index = static_cast<unsigned>(index);
  auto val = field(j, "value");
  if (!val) return bad(where + ".value", "is required");
  CR_ASSIGN(a.value, get_u64(*val, where + ".value"));
  if (auto v2 = field(j, "valueTwo")) {
    CR_ASSIGN(a.value_two, get_u64(*v2, where + ".valueTwo"));
  }
  auto op = field(j, "op");
  if (!op) return bad(where + ".op", "is required");
  CR_ASSIGN(std::string opname, get_string(*op, where + ".op"));
  auto o = names::find_operator(opname);
  if (!o) return bad(where + ".op", "unknown operator \"" + opname + "\"");
  a.op = *o;
  return a;
}

Result<Rule> parse_rule(const json& j, const std::string& where) {
  if (!j.is_object()) return bad(where, "must be an object");
  Rule r;
  auto nm = field(j, "names");
  if (!nm) return bad(where + ".names", "is required");
  CR_TRY(require_array(*nm, where + ".names"));
  if (nm->empty()) return bad(where + ".names", "must not be empty");
  for (size_t i = 0; i < nm->size(); i++) {
    std::string w = where + ".names[" + std::to_string(i) + "]";
    CR_ASSIGN(std::string name, get_string((*nm)[i], w));
    if (name.empty()) return bad(w, "must not be empty");
    r.names.push_back(std::move(name));
  }
  auto act = field(j, "action");
  if (!act) return bad(where + ".action", "is required");
  CR_ASSIGN(const names::Action* a, get_action(*act, where + ".action"));
  std::optional<uint32_t> err;
  if (auto e = field(j, "errnoRet")) {
    CR_ASSIGN(err, get_errno(*e, where + ".errnoRet"));
    // runtime-spec: when the action doesn't support an errno, the runtime MUST fail.
    if (!a->takes_errno)
      return bad(where + ".errnoRet", std::string("is not supported by ") + a->name +
                                          " (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE)");
  }
  r.action = names::action_value(*a, err);
  r.notify = a->value == SCMP_ACT_NOTIFY;
  if (r.notify) {
    // After loading the filter, the init hands the listener fd to crunner with
    // sendmsg(); a notified sendmsg would wait for an agent that never gets the fd.
    // write is refused too, as runc does (its init reports with write()).
    for (size_t i = 0; i < r.names.size(); i++)
      if (r.names[i] == "write" || r.names[i] == "sendmsg")
        return bad(where + ".names[" + std::to_string(i) + "]",
                   "SCMP_ACT_NOTIFY cannot be used for the " + r.names[i] + " syscall");
  }
  if (auto args = field(j, "args")) {
    CR_TRY(require_array(*args, where + ".args"));
    for (size_t i = 0; i < args->size(); i++) {
      CR_ASSIGN(Arg arg, parse_arg((*args)[i], where + ".args[" + std::to_string(i) + "]"));
      r.args.push_back(arg);
    }
  }
  return r;
}

}  // namespace

Result<Profile> parse(const json& j, const std::string& where) {
  if (!j.is_object()) return bad(where, "must be an object");
  Profile p;
  auto da = field(j, "defaultAction");
  if (!da) return bad(where + ".defaultAction", "is required");
  CR_ASSIGN(const names::Action* def, get_action(*da, where + ".defaultAction"));
  if (def->value == SCMP_ACT_NOTIFY)
    return bad(where + ".defaultAction", "SCMP_ACT_NOTIFY cannot be used as default action");
  if (auto e = field(j, "defaultErrnoRet")) {
    CR_ASSIGN(p.default_errno, get_errno(*e, where + ".defaultErrnoRet"));
    if (!def->takes_errno)
      return bad(where + ".defaultErrnoRet", std::string("is not supported by ") + def->name +
                                                 " (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE)");
  }
  p.default_action = names::action_value(*def, p.default_errno);
  p.default_permissive = names::is_permissive(*def);

  if (auto archs = field(j, "architectures")) {
    CR_TRY(require_array(*archs, where + ".architectures"));
    for (size_t i = 0; i < archs->size(); i++) {
      std::string w = where + ".architectures[" + std::to_string(i) + "]";
      CR_ASSIGN(std::string name, get_string((*archs)[i], w));
      auto tok = names::find_arch(name);
      if (!tok && names::is_spec_arch(name))
        return make_error(ErrorKind::Unsupported, w + ": architecture \"" + name +
                                                      "\" is not supported by libseccomp " +
                                                      libseccomp_version());
      if (!tok) return bad(w, "unknown architecture \"" + name + "\"");
      p.archs.push_back(*tok);
      p.arch_names.push_back(name);
    }
  }
  if (auto flags = field(j, "flags")) {
    CR_TRY(require_array(*flags, where + ".flags"));
    for (size_t i = 0; i < flags->size(); i++) {
      std::string w = where + ".flags[" + std::to_string(i) + "]";
      CR_ASSIGN(std::string name, get_string((*flags)[i], w));
      auto f = names::find_flag(name);
      if (!f) return bad(w, "unknown flag \"" + name + "\"");
      p.flags |= *f;
    }
  }
  if (auto lp = field(j, "listenerPath")) {
    CR_ASSIGN(p.listener_path, get_string(*lp, where + ".listenerPath"));
  }
  if (auto lm = field(j, "listenerMetadata")) {
    CR_ASSIGN(p.listener_metadata, get_string(*lm, where + ".listenerMetadata"));
  }
  if (auto sc = field(j, "syscalls")) {
    CR_TRY(require_array(*sc, where + ".syscalls"));
    for (size_t i = 0; i < sc->size(); i++) {
      CR_ASSIGN(Rule r, parse_rule((*sc)[i], where + ".syscalls[" + std::to_string(i) + "]"));
      p.uses_notify = p.uses_notify || r.notify;
      p.rules.push_back(std::move(r));
    }
  }
  if (p.uses_notify && p.listener_path.empty())
    return bad(where + ".listenerPath", "is required when SCMP_ACT_NOTIFY is used");
  // runtime-spec: listenerMetadata MUST NOT be set if listenerPath is not set.
  if (field(j, "listenerMetadata") && p.listener_path.empty())
    return bad(where + ".listenerMetadata", "is set without listenerPath");
  return p;
}

Status validate(const json& linux_seccomp, const std::string& where) {
  auto r = parse(linux_seccomp, where);
  if (!r) return std::move(r).error();
  return {};
}

}  // namespace crunner::seccomp
