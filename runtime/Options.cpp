//===- Options.cpp - Setting trainer options from their text --------------===//
///
/// \file
/// adj_rt_options_set(): the one place where the text of a trainer option
/// is checked and stored, so that a native trainer and `adjc --run` accept
/// the same values with the same messages. The flag is looked up in
/// TrainerOptions.def and dispatched on its kind; strings are copied into a
/// Storage object hung off adj_rt_options::storage, which also holds the
/// growing arrays of the List and Map options (--freeze, --data).
///
//===----------------------------------------------------------------------===//

#include "runtime/Internal.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>

using namespace adj::rt;

namespace {

/// What adj_rt_options_set() allocates for one adj_rt_options.
struct Storage {
  std::deque<std::string> Strings;
  std::map<const void *, std::vector<const char *>> Arrays;

  const char *copy(const std::string &s) {
    Strings.push_back(s);
    return Strings.back().c_str();
  }
  /// Appends `item` to the array `field` (of `count` entries), moving the
  /// array into this storage first if the caller set it.
  void append(const char *const *&field, int &count, const char *item) {
    std::vector<const char *> &v = Arrays[&field];
    if (field != v.data())
      v.assign(field, field + (field ? count : 0));
    v.push_back(item);
    field = v.data();
    count = int(v.size());
  }
};

Storage &storage(adj_rt_options &o) {
  if (!o.storage)
    o.storage = new Storage;
  return *static_cast<Storage *>(o.storage);
}

/// Digits only (no sign, no spaces), as an int64_t.
bool parseUInt(const char *text, int64_t &out) {
  if (!text || !*text)
    return false;
  out = 0;
  for (const char *p = text; *p; ++p)
    if (*p < '0' || *p > '9' || !checkedMul(out, 10, out) ||
        __builtin_add_overflow(out, *p - '0', &out))
      return false;
  return true;
}

int setPosInt(const char *flag, const char *text, int64_t &field) {
  int64_t v;
  if (!parseUInt(text, v) || v == 0)
    return fail(format("%s: %s is not a positive integer", flag, text));
  field = v;
  return 0;
}

int setUInt(const char *flag, const char *text, int64_t &field) {
  int64_t v;
  if (!parseUInt(text, v))
    return fail(format("%s: %s is not a non-negative integer", flag, text));
  field = v;
  return 0;
}

int setPosFloat(const char *flag, const char *text, double &field) {
  char *end = nullptr;
  errno = 0;
  double v = *text ? std::strtod(text, &end) : 0;
  if (!*text || *end || errno == ERANGE || !std::isfinite(v) || v <= 0)
    return fail(format("%s: %s is not a positive number", flag, text));
  field = v;
  return 0;
}

int setString(adj_rt_options &o, const char *flag, const char *text,
              const char *&field) {
  if (!*text)
    return fail(format("%s: expects a non-empty value", flag));
  field = storage(o).copy(text);
  return 0;
}

int setSchedule(const char *flag, const char *text, adj_rt_schedule &field) {
  adj_rt_schedule parsed;
  if (adj_rt_schedule_parse(text, &parsed))
    return fail(format("%s: %s", flag, adj_rt_last_error()));
  field = parsed;
  return 0;
}

/// "a,b" appended to the array.
int setList(adj_rt_options &o, const char *flag, const char *text,
            const char *const *&field, int &count) {
  std::string s = text;
  for (size_t start = 0;;) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma - start);
    if (item.empty())
      return fail(format("%s: empty name in '%s'", flag, text));
    storage(o).append(field, count, storage(o).copy(item));
    if (comma == std::string::npos)
      return 0;
    start = comma + 1;
  }
}

/// "train.x=x.npy" appended to the key and value arrays.
int setMap(adj_rt_options &o, const char *flag, const char *text,
           const char *const *&keys, const char *const *&values, int &count) {
  std::string s = text;
  size_t eq = s.find('=');
  std::string key = s.substr(0, eq);
  size_t dot = key.find('.');
  if (eq == std::string::npos || eq + 1 == s.size() ||
      dot == std::string::npos || dot == 0 || dot + 1 == key.size())
    return fail(format("%s: '%s' is not SPLIT.INPUT=PATH", flag, text));
  std::string split = key.substr(0, dot);
  if (split != "train" && split != "test")
    return fail(format("%s: unknown split '%s' in '%s' (expected train or "
                       "test)",
                       flag, split.c_str(), text));
  int n = count;
  storage(o).append(keys, n, storage(o).copy(key));
  storage(o).append(values, count, storage(o).copy(s.substr(eq + 1)));
  return 0;
}

/// "a=b,c=d" appended to the key and value arrays.
int setPairs(adj_rt_options &o, const char *flag, const char *text,
             const char *const *&keys, const char *const *&values, int &count) {
  std::string s = text;
  for (size_t start = 0;;) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma - start);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return fail(format("%s: '%s' is not KEY=VALUE", flag, item.c_str()));
    int n = count;
    storage(o).append(keys, n, storage(o).copy(item.substr(0, eq)));
    storage(o).append(values, count, storage(o).copy(item.substr(eq + 1)));
    if (comma == std::string::npos)
      return 0;
    start = comma + 1;
  }
}

} // namespace

extern "C" void adj_rt_options_init(adj_rt_options *o) {
  if (!o)
    return;
  std::memset(o, 0, sizeof(*o));
  o->seed = -1;
  o->warmup = -1;
  o->shuffle = 1;
  o->arena_bytes = -1;
}

extern "C" int adj_rt_options_set(adj_rt_options *o, const char *flag,
                                  const char *value) {
  if (!o || !flag)
    return fail("adj_rt_options_set: null argument");
  const char *text = value ? value : "";
  std::string dashed = std::string("--") + flag;
  const char *f = dashed.c_str();
#define OPTION(Name, Flag, Kind, Field, Value, Help)                           \
  if (std::strcmp(flag, Flag) == 0)                                            \
    return OPTION_##Kind(Field);
#define OPTION_PosInt(Field) setPosInt(f, text, o->Field)
#define OPTION_UInt(Field) setUInt(f, text, o->Field)
#define OPTION_PosFloat(Field) setPosFloat(f, text, o->Field)
#define OPTION_String(Field) setString(*o, f, text, o->Field)
#define OPTION_Schedule(Field) setSchedule(f, text, o->Field)
#define OPTION_Flag(Field) (o->Field = 1, 0)
#define OPTION_NoFlag(Field) (o->Field = 0, 0)
#define OPTION_List(Field) setList(*o, f, text, o->Field, o->num_##Field)
#define OPTION_Map(Field)                                                      \
  setMap(*o, f, text, o->Field##_keys, o->Field##_values, o->num_##Field)
#define OPTION_Pairs(Field)                                                    \
  setPairs(*o, f, text, o->Field##_keys, o->Field##_values, o->num_##Field)
#include "runtime/TrainerOptions.def"
#undef OPTION_PosInt
#undef OPTION_UInt
#undef OPTION_PosFloat
#undef OPTION_String
#undef OPTION_Schedule
#undef OPTION_Flag
#undef OPTION_NoFlag
#undef OPTION_List
#undef OPTION_Map
#undef OPTION_Pairs
  return fail(format("unknown trainer option '%s'", f));
}

extern "C" void adj_rt_options_free(adj_rt_options *o) {
  if (!o)
    return;
  delete static_cast<Storage *>(o->storage);
  o->storage = nullptr;
}
