#pragma once
// Output for people and machines: aligned text tables, Markdown tables, CSV, and the
// Prometheus text exposition format.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace common {

// A table of text cells; numbers are formatted by the caller. Columns whose `numeric` flag is
// set are right-aligned in text and Markdown.
struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::vector<bool> numeric;  // per column; missing entries mean text

    void add_row(std::vector<std::string> row) { rows.push_back(std::move(row)); }
};

// Columns padded to their widest cell and separated by two spaces; no trailing blanks.
std::string render_text(const Table& table);

// A GitHub-flavoured Markdown table; '|' in cells is escaped and newlines become spaces.
std::string render_markdown(const Table& table);

// RFC 4180 CSV with '\n' line ends: a cell holding a comma, a quote, CR or LF is quoted and
// its quotes doubled.
std::string csv_cell(std::string_view cell);
std::string render_csv(const Table& table);

// Builds Prometheus text exposition format (version 0.0.4): HELP and TYPE once per family,
// samples without timestamps. Families must be begun before their samples.
class PrometheusText {
public:
    using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

    // Starts metric family `name` of `type` (counter, gauge, summary, untyped) with `help`.
    void family(std::string_view name, std::string_view type, std::string_view help);
    // One sample line: `name` may carry a suffix of the current family (_sum, _count).
    void sample(std::string_view name, Labels labels, double value);
    void sample(std::string_view name,
                const std::vector<std::pair<std::string, std::string>>& labels, double value);

    const std::string& text() const { return m_text; }

private:
    std::string m_text;
};

// A label value with '\\', '"' and line feeds escaped as the exposition format requires; invalid
// UTF-8 and other control characters become U+FFFD, so the text is valid whatever the bytes.
std::string escape_label_value(std::string_view value);

// A sample value: integers without a decimal point, NaN, +Inf and -Inf spelled as Prometheus
// spells them, other numbers in their shortest exact form.
std::string prometheus_value(double value);

}  // namespace common
