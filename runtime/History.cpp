//===- History.cpp - The CSV log and the SVG loss plot --------------------===//
///
/// \file
/// --log FILE.csv: a header "kind,epoch,step,loss,test_loss,METRICS...,
/// samples_per_sec", then one row per optimizer step (kind "step": the
/// batch's loss and throughput, empty test columns) and one per epoch
/// (kind "epoch": the epoch's mean train loss, the test loss and metrics
/// when there is a test split, the epoch's throughput). Values print with 9
/// significant digits, so a float loss survives the round trip. The log is
/// written as training goes (see RunFiles.cpp), not at the end.
///
/// --plot FILE.svg: a self-contained SVG line chart of the train and test
/// loss per epoch: axes with "nice" ticks (1, 2 or 5 times a power of ten),
/// grid lines, axis labels, a title and a legend; a marker per epoch while
/// there are few, written atomically at the end.
///
//===----------------------------------------------------------------------===//

#include "runtime/Trainer.h"

#include <algorithm>
#include <cmath>

namespace adj::rt {

static std::string number(double v) {
  return std::isfinite(v) ? format("%.9g", v) : "";
}

std::string logHeader(const History &h) {
  std::string text = "kind,epoch,step,loss,test_loss";
  for (const std::string &m : h.MetricNames)
    text += "," + m;
  return text + ",samples_per_sec\n";
}

std::string logLine(const History &h, const History::Row &r) {
  std::string text = format("%s,%lld,%lld,", r.IsEpoch ? "epoch" : "step",
                            (long long)r.Epoch, (long long)r.Step) +
                     number(r.Loss) + "," +
                     (r.TestLoss ? number(*r.TestLoss) : "");
  for (size_t i = 0; i < h.MetricNames.size(); ++i)
    text += "," + (i < r.Metrics.size() ? number(r.Metrics[i]) : "");
  return text + format(",%.1f\n", r.SamplesPerSec);
}

namespace {

/// Text with the XML special characters escaped.
std::string xmlEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `x`.
double niceStep(double x) {
  double p = std::pow(10.0, std::floor(std::log10(x)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= x * (1 - 1e-9))
      return m * p;
  return 10 * p;
}

/// A linear axis from Lo to Hi, mapped onto pixels [From, To].
struct Axis {
  double Lo, Hi, Step;
  double From, To;
  double at(double v) const {
    return From + (v - Lo) / (Hi - Lo) * (To - From);
  }
  /// Tick label with as many decimals as the step needs.
  std::string label(double v) const {
    int decimals = std::max(0, -int(std::floor(std::log10(Step) + 1e-9)));
    return format("%.*f", decimals, std::fabs(v) < Step / 2 ? 0.0 : v);
  }
};

/// Rounds [lo, hi] out to about `ticks` nice steps.
Axis niceAxis(double lo, double hi, int ticks, double from, double to) {
  if (!(hi > lo)) {
    double pad = lo != 0 ? std::fabs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  double step = niceStep((hi - lo) / ticks);
  return {std::floor(lo / step + 1e-9) * step,
          std::ceil(hi / step - 1e-9) * step, step, from, to};
}

struct Series {
  const char *Name, *Color;
  std::vector<std::pair<double, double>> Points; // (epoch, loss)
};

} // namespace

int writePlot(const char *path, const char *model, const History &h) {
  const double W = 640, H = 400, Left = 72, Right = 24, Top = 40, Bottom = 52;
  Series train{"train loss", "#1f77b4", {}}, test{"test loss", "#d62728", {}};
  for (const History::Row &r : h.Rows) {
    if (!r.IsEpoch)
      continue;
    if (std::isfinite(r.Loss))
      train.Points.push_back({double(r.Epoch), r.Loss});
    if (r.TestLoss && std::isfinite(*r.TestLoss))
      test.Points.push_back({double(r.Epoch), *r.TestLoss});
  }
  std::string title =
      xmlEscape(model && *model ? model : "model") + ": loss per epoch";
  std::string svg = format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
      "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%g\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s"
      "</text>\n",
      W, H, W, H, W / 2, title.c_str());
  double x0 = Left, x1 = W - Right, y0 = H - Bottom, y1 = Top;
  std::vector<const Series *> shown;
  for (const Series *s : {&train, &test})
    if (!s->Points.empty())
      shown.push_back(s);
  if (shown.empty()) {
    svg += format("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
                  "fill=\"#666\">no training epochs</text>\n</svg>\n",
                  W / 2, H / 2);
    return writeFileAtomically(path, "plot", {{svg.data(), svg.size()}});
  }

  double eLo = INFINITY, eHi = -INFINITY, lLo = INFINITY, lHi = -INFINITY;
  for (const Series *s : shown)
    for (auto [e, l] : s->Points) {
      eLo = std::min(eLo, e), eHi = std::max(eHi, e);
      lLo = std::min(lLo, l), lHi = std::max(lHi, l);
    }
  Axis x = niceAxis(eLo, eHi, 8, x0 + 12, x1 - 12); // inset: whole markers
  x.Step = std::max(1.0, x.Step);                   // epochs are whole numbers
  if (eHi > eLo) {
    x.Lo = eLo;
    x.Hi = eHi;
  } else {
    x.Lo = eLo - 0.5;
    x.Hi = eLo + 0.5;
  }
  Axis y = niceAxis(lLo, lHi, 5, y0, y1);

  // Grid, ticks and tick labels.
  for (double v = y.Lo; v <= y.Hi + y.Step / 2; v += y.Step)
    svg +=
        format("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" "
               "stroke=\"#e5e5e5\"/>\n<text x=\"%g\" y=\"%.1f\" "
               "text-anchor=\"end\" dominant-baseline=\"middle\">%s"
               "</text>\n",
               x0, y.at(v), x1, y.at(v), x0 - 6, y.at(v), y.label(v).c_str());
  for (double v = std::ceil(x.Lo / x.Step) * x.Step; v <= x.Hi + 1e-9;
       v += x.Step)
    svg += format("<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" "
                  "stroke=\"black\"/>\n<text x=\"%.1f\" y=\"%g\" "
                  "text-anchor=\"middle\">%.0f</text>\n",
                  x.at(v), y0, x.at(v), y0 + 5, x.at(v), y0 + 19, v);
  // Axes and their labels.
  svg += format("<path d=\"M%g %g V%g H%g\" fill=\"none\" "
                "stroke=\"black\"/>\n",
                x0, y1, y0, x1);
  svg += format("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch"
                "</text>\n",
                (x0 + x1) / 2, H - 14);
  svg += format("<text x=\"18\" y=\"%g\" text-anchor=\"middle\" "
                "transform=\"rotate(-90 18 %g)\">loss</text>\n",
                (y0 + y1) / 2, (y0 + y1) / 2);

  // The series, then the legend in the top right corner.
  for (const Series *s : shown) {
    std::string points;
    for (auto [e, l] : s->Points)
      points +=
          format("%s%.1f,%.1f", points.empty() ? "" : " ", x.at(e), y.at(l));
    svg += format("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                  "stroke-width=\"2\"/>\n",
                  points.c_str(), s->Color);
    if (s->Points.size() <= 60)
      for (auto [e, l] : s->Points)
        svg += format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                      "fill=\"%s\"/>\n",
                      x.at(e), y.at(l), s->Color);
  }
  double ly = y1 + 8;
  svg += format("<rect x=\"%g\" y=\"%g\" width=\"104\" height=\"%g\" "
                "fill=\"white\" stroke=\"#ccc\"/>\n",
                x1 - 112, ly, 8 + 18 * double(shown.size()));
  for (const Series *s : shown) {
    ly += 18;
    svg += format("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
                  "stroke-width=\"2\"/>\n<text x=\"%g\" y=\"%g\" "
                  "dominant-baseline=\"middle\">%s</text>\n",
                  x1 - 104, ly - 5, x1 - 80, ly - 5, s->Color, x1 - 74, ly - 5,
                  s->Name);
  }
  svg += "</svg>\n";
  return writeFileAtomically(path, "plot", {{svg.data(), svg.size()}});
}

} // namespace adj::rt
