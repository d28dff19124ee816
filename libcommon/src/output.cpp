#include "common/output.hpp"

#include "common/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace common {
namespace {

bool is_numeric(const Table& table, std::size_t column)
{
    return column < table.numeric.size() && table.numeric[column];
}

std::size_t column_count(const Table& table)
{
    std::size_t columns = table.header.size();
    for (const auto& row : table.rows)
        columns = std::max(columns, row.size());
    return columns;
}

std::string cell_of(const std::vector<std::string>& row, std::size_t column)
{
    return column < row.size() ? row[column] : std::string();
}

// Width in characters as a terminal shows them: UTF-8 continuation bytes take no column.
std::size_t display_width(std::string_view text)
{
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string pad(std::string_view text, std::size_t width, bool right)
{
    const auto fill = std::string(width - std::min(width, display_width(text)), ' ');
    return right ? fill + std::string(text) : std::string(text) + fill;
}

std::string markdown_cell(std::string_view cell)
{
    // What CommonMark and GFM read as markup inside a table cell: emphasis, code, links and
    // images, raw HTML and entities, strikethrough, the cell delimiter, and the escape itself.
    constexpr std::string_view special = "\\`*_[]<>!&~|";
    std::string out;
    for (const char c : printable(cell)) {
        if (special.find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

// OWASP's CSV injection rule: a text cell a spreadsheet would run as a formula gets a quote.
bool formula_like(std::string_view cell)
{
    return !cell.empty() &&
           std::string_view("=+-@\t\r").find(cell.front()) != std::string_view::npos;
}

std::string escape_help(std::string_view help)
{
    std::string out;
    for (const char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

}  // namespace

bool c1_control_at(std::string_view text, std::size_t at) noexcept
{
    if (at + 1 >= text.size() || static_cast<unsigned char>(text[at]) != 0xc2) return false;
    const auto next = static_cast<unsigned char>(text[at + 1]);
    return next >= 0x80 && next < 0xa0;
}

std::string printable(std::string_view text)
{
    std::string out;
    const auto valid = sanitize_utf8(text);
    for (std::size_t i = 0; i < valid.size(); ++i) {
        const auto byte = static_cast<unsigned char>(valid[i]);
        if (byte == '\n')
            out += "\\n";
        else if (byte == '\r')
            out += "\\r";
        else if (byte == '\t')
            out += "\\t";
        else if (byte < 0x20 || byte == 0x7f)
            out += fmt::format("\\x{:02x}", byte);
        else if (c1_control_at(valid, i))
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(valid[++i]));
        else
            out += valid[i];
    }
    return out;
}

std::string render_text(const Table& table)
{
    const auto columns = column_count(table);
    std::vector<std::vector<std::string>> shown;
    for (const auto& row : table.rows) {
        shown.emplace_back();
        for (const auto& cell : row)
            shown.back().push_back(printable(cell));
    }
    std::vector<std::size_t> widths(columns, 0);
    const auto measure = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    };
    measure(table.header);
    for (const auto& row : shown)
        measure(row);

    std::string out;
    const auto line = [&](const std::vector<std::string>& row) {
        std::string text;
        for (std::size_t i = 0; i < columns; ++i) {
            if (i > 0) text += "  ";
            text += pad(cell_of(row, i), widths[i], is_numeric(table, i));
        }
        text.erase(text.find_last_not_of(' ') + 1);
        out += text + '\n';
    };
    if (!table.header.empty()) line(table.header);
    for (std::size_t i = 0; i < shown.size(); ++i) {
        if (i + table.footer_rows == shown.size()) {
            std::size_t width = 2 * (columns - 1);
            for (const auto column : widths)
                width += column;
            out += std::string(width, '-') + '\n';
        }
        line(shown[i]);
    }
    return out;
}

std::string render_markdown(const Table& table)
{
    const auto columns = column_count(table);
    std::string out;
    const auto line = [&](const std::vector<std::string>& row) {
        out += '|';
        for (std::size_t i = 0; i < columns; ++i)
            out += ' ' + markdown_cell(cell_of(row, i)) + " |";
        out += '\n';
    };
    line(table.header);
    out += '|';
    for (std::size_t i = 0; i < columns; ++i)
        out += is_numeric(table, i) ? "---:|" : "---|";
    out += '\n';
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        if (i + table.footer_rows < table.rows.size()) {
            line(table.rows[i]);
            continue;
        }
        // A footer row (a total) in bold, which no escaped cell can be mistaken for.
        auto row = table.rows[i];
        out += '|';
        for (std::size_t column = 0; column < columns; ++column) {
            const auto cell = markdown_cell(cell_of(row, column));
            out += cell.empty() ? std::string(" |") : " **" + cell + "** |";
        }
        out += '\n';
    }
    return out;
}

std::string markdown_text(std::string_view text)
{
    return markdown_cell(text);
}

std::string csv_cell(std::string_view cell)
{
    if (cell.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(cell);
    std::string out = "\"";
    for (const char c : cell) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

std::string render_csv(const Table& table)
{
    const auto columns = column_count(table);
    std::string out;
    const auto line = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < columns; ++i) {
            if (i > 0) out += ',';
            const auto cell = cell_of(row, i);
            out += csv_cell(!is_numeric(table, i) && formula_like(cell) ? "'" + cell : cell);
        }
        out += "\r\n";
    };
    if (!table.header.empty()) line(table.header);
    for (const auto& row : table.rows)
        line(row);
    return out;
}

namespace {

// The length of the valid UTF-8 sequence at the start of `text` (no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when its first byte begins none.
std::size_t utf8_sequence_length(std::string_view text)
{
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const auto first = byte(0);
    if (first < 0x80) return 1;
    std::size_t length = 0;
    unsigned char low = 0x80;  // the range of the second byte
    unsigned char high = 0xbf;
    if (first >= 0xc2 && first <= 0xdf) {
        length = 2;
    } else if (first >= 0xe0 && first <= 0xef) {
        length = 3;
        if (first == 0xe0) low = 0xa0;
        if (first == 0xed) high = 0x9f;
    } else if (first >= 0xf0 && first <= 0xf4) {
        length = 4;
        if (first == 0xf0) low = 0x90;
        if (first == 0xf4) high = 0x8f;
    } else {
        return 0;
    }
    if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i)
        if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
    return length;
}

}  // namespace

std::string escape_label_value(std::string_view value)
{
    // One series per name: two names must never come out as one label value, or Prometheus
    // refuses the whole file for a repeated series. So a byte that is not printable UTF-8
    // (invalid, C0, DEL, C1) is written as the visible \xHH and a backslash as two, which
    // nothing else produces; then the format's own escaping of '\\' and '"'.
    std::string shown;
    while (!value.empty()) {
        const auto length = utf8_sequence_length(value);
        const auto first = static_cast<unsigned char>(value[0]);
        const bool control =
            length == 1 ? first < 0x20 || first == 0x7f : length == 2 && c1_control_at(value, 0);
        if (length == 0 || control) {
            for (std::size_t i = 0; i < std::max<std::size_t>(length, 1); ++i)
                shown += fmt::format("\\x{:02x}", static_cast<unsigned char>(value[i]));
        } else if (first == '\\') {
            shown += "\\\\";
        } else {
            shown += value.substr(0, length);
        }
        value.remove_prefix(std::max<std::size_t>(length, 1));
    }
    std::string out;
    for (const char c : shown) {
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out;
}

std::string prometheus_value(double value)
{
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (value == std::trunc(value) && std::abs(value) < 1e15)
        return fmt::format("{}", static_cast<long long>(value));
    return fmt::format("{}", value);
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help)
{
    m_text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
}

void PrometheusText::sample(std::string_view name, Labels labels, double value)
{
    std::vector<std::pair<std::string, std::string>> copied;
    for (const auto& [label, label_value] : labels)
        copied.emplace_back(label, label_value);
    sample(name, copied, value);
}

void PrometheusText::sample(std::string_view name,
                            const std::vector<std::pair<std::string, std::string>>& labels,
                            double value)
{
    m_text += name;
    if (!labels.empty()) {
        m_text += '{';
        bool first = true;
        for (const auto& [label, label_value] : labels) {
            if (!first) m_text += ',';
            first = false;
            m_text += fmt::format("{}=\"{}\"", label, escape_label_value(label_value));
        }
        m_text += '}';
    }
    m_text += ' ' + prometheus_value(value) + '\n';
}

}  // namespace common
