#pragma once
// The printed forms of a Report, one file each; render() picks one.

#include "report.hpp"

#include <string>

namespace metrics_report {

// Text tables for people, or the same sections as Markdown.
std::string render_sections(const Report& report, bool markdown);
// One CSV row per agent, then the overall row.
std::string render_csv(const Report& report);
// Prometheus text exposition format.
std::string render_prometheus(const Report& report);

}  // namespace metrics_report
