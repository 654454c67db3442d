//===- Sample.cpp - :sample, text from a trained byte-level model ---------===//
///
/// `:sample N [PROMPT] [temperature=T] [seed=S]` generates N bytes from a
/// model whose output reads one input of byte ids `i32[N, T]` and gives
/// logits `[N, T, 256]` for the next byte at each position (a
/// character-level language model such as examples/char_lstm.adj). Each
/// step puts the last (up to T) bytes of the text so far at the start of a
/// window, runs the output in evaluation mode on it
/// (adj_rt_session_predict_rows), and draws the next byte from
/// softmax(logits / T) at the position of the last real byte; the bytes
/// after it do not matter to a causal model. PROMPT (in double quotes, with
/// \n and \" escapes) starts the text; it defaults to a newline.
///
//===----------------------------------------------------------------------===//
#include "tools/adj-repl/Repl.h"

#include "runtime/adjoint_rt_session.h"

#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <random>

namespace adj {

namespace {

struct SampleArgs {
  int64_t Count = 0;
  std::string Prompt = "\n";
  double Temperature = 1.0;
  uint64_t Seed = 0;
};

/// Parses `N ["PROMPT"] [temperature=T] [seed=S]`; "" or the error.
std::string parseSampleArgs(const std::string &Args, SampleArgs &Out) {
  size_t I = 0;
  auto Skip = [&] {
    while (I < Args.size() && std::isspace((unsigned char)Args[I]))
      ++I;
  };
  auto Word = [&] {
    size_t Start = I;
    while (I < Args.size() && !std::isspace((unsigned char)Args[I]))
      ++I;
    return Args.substr(Start, I - Start);
  };
  Skip();
  std::string N = Word();
  char *End = nullptr;
  Out.Count = std::strtoll(N.c_str(), &End, 10);
  if (N.empty() || *End || Out.Count <= 0 || Out.Count > 1000000)
    return "expected a byte count N in [1, 1000000] first";
  for (Skip(); I < Args.size(); Skip()) {
    if (Args[I] == '"') {
      std::string P;
      for (++I; I < Args.size() && Args[I] != '"'; ++I) {
        if (Args[I] == '\\' && I + 1 < Args.size()) {
          char C = Args[++I];
          P += C == 'n' ? '\n' : C == 't' ? '\t' : C;
        } else {
          P += Args[I];
        }
      }
      if (I >= Args.size())
        return "the prompt has no closing '\"'";
      ++I;
      if (P.empty())
        return "the prompt is empty";
      Out.Prompt = P;
      continue;
    }
    std::string W = Word();
    size_t Eq = W.find('=');
    std::string Key = W.substr(0, Eq),
                Val = Eq == W.npos ? "" : W.substr(Eq + 1);
    End = nullptr;
    if (Key == "temperature" && !Val.empty()) {
      Out.Temperature = std::strtod(Val.c_str(), &End);
      if (*End || !(Out.Temperature > 0) || !std::isfinite(Out.Temperature))
        return fmt::format("temperature must be a positive number, got '{}'",
                           Val);
    } else if (Key == "seed" && !Val.empty()) {
      Out.Seed = std::strtoull(Val.c_str(), &End, 10);
      if (*End)
        return fmt::format("seed must be an integer, got '{}'", Val);
    } else {
      return fmt::format("unexpected '{}' (expected \"PROMPT\", "
                         "temperature=T or seed=S)",
                         W);
    }
  }
  return "";
}

} // namespace

bool Repl::cmdSample(const std::string &Args) {
  if (!ensureSession(":sample"))
    return false;
  SampleArgs A;
  if (std::string E = parseSampleArgs(Args, A); !E.empty())
    return replError(":sample: " + E);
  const adj_rt_function &F = CM->runtimeModel().predict_step;
  const adj_rt_value_desc *In = nullptr;
  for (int I = 0; F.args && I < F.num_args; ++I)
    if (F.args[I].role == ADJ_RT_ARG_INPUT)
      In = &F.args[I];
  const adj_rt_value_desc *Out = F.num_results == 1 ? F.results : nullptr;
  if (!F.fn || !In || !Out || In->dtype != ADJ_RT_I32 || In->rank != 2 ||
      Out->rank != 3 || Out->dtype != ADJ_RT_F32 ||
      Out->dims[1] != In->dims[1] || Out->dims[2] != 256)
    return replError(":sample: needs a byte-level language model: an output "
                     "of logits f32[N, T, 256] read from one input i32[N, T] "
                     "(see examples/char_lstm.adj)");
  int64_t T = In->dims[1];
  std::vector<int32_t> Window(T);
  std::vector<float> Logits(size_t(T) * 256);
  std::vector<double> P(256);
  std::mt19937_64 Rng(A.Seed);
  std::string Text = A.Prompt;
  std::fputs(Text.c_str(), stdout);
  for (int64_t K = 0; K < A.Count; ++K) {
    size_t Len = std::min<size_t>(Text.size(), size_t(T));
    std::fill(Window.begin(), Window.end(), 0);
    for (size_t I = 0; I < Len; ++I)
      Window[I] = (unsigned char)Text[Text.size() - Len + I];
    if (adj_rt_session_predict_rows(Session, In->name, Window.data(), 1,
                                    Logits.data(),
                                    Logits.size() * sizeof(float)))
      return replError(adj_rt_last_error());
    const float *Row = Logits.data() + (Len - 1) * 256;
    double Max = *std::max_element(Row, Row + 256), Sum = 0;
    for (int V = 0; V < 256; ++V)
      Sum += P[V] = std::exp((Row[V] - Max) / A.Temperature);
    double U = std::uniform_real_distribution<double>(0, Sum)(Rng);
    int Next = 255;
    for (int V = 0; V < 256; ++V)
      if ((U -= P[V]) < 0) {
        Next = V;
        break;
      }
    Text += char(Next);
    std::fputc(Next, stdout);
    std::fflush(stdout);
  }
  std::fputc('\n', stdout);
  return true;
}

} // namespace adj
