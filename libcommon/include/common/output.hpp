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
    std::vector<bool> numeric;    // per column; missing entries mean text
    std::size_t footer_rows = 0;  // last rows set apart (a total): a rule in text, bold in Markdown

    void add_row(std::vector<std::string> row) { rows.push_back(std::move(row)); }
};

// Whether `text` holds at `at` a C1 control (U+0080 to U+009F) in UTF-8: 0xC2, then a byte
// from 0x80 to 0x9F. Some terminals obey them (CSI is U+009B).
bool c1_control_at(std::string_view text, std::size_t at) noexcept;

// `text` safe to show on a terminal: invalid UTF-8 as U+FFFD, and control characters (C0,
// DEL, C1) written as escapes: \n, \r, \t, \x1b, \u009b.
std::string printable(std::string_view text);

// Columns padded to their widest cell and separated by two spaces; no trailing blanks. Cells
// are shown printable().
std::string render_text(const Table& table);

// A GitHub-flavoured Markdown table: cells printable(), with every character CommonMark or
// GFM reads as markup in a cell backslash-escaped, so that a cell renders as its text.
std::string render_markdown(const Table& table);
// `text` escaped as render_markdown() escapes a cell, for Markdown outside a table.
std::string markdown_text(std::string_view text);

// RFC 4180 CSV with CRLF line ends: a cell holding a comma, a quote, CR or LF is quoted and
// its quotes doubled. render_csv() prefixes a text cell beginning with '=', '+', '-', '@',
// tab or CR with a single quote, so that a spreadsheet does not run it as a formula (OWASP).
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

// A label value in the exposition format: valid UTF-8 whatever the bytes, and one value per name,
// so that two names never make one series. Invalid UTF-8 and control characters (C0, DEL, C1)
// become the visible text \xHH, a backslash becomes two; then backslashes and quotes are escaped.
std::string escape_label_value(std::string_view value);

// A sample value: integers without a decimal point, NaN, +Inf and -Inf spelled as Prometheus
// spells them, other numbers in their shortest exact form.
std::string prometheus_value(double value);

}  // namespace common
