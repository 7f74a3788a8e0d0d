#include "nginx/nginx_conf_scan.hpp"

#include "nginx/nginx_lexer.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace zdd {

namespace {

constexpr std::size_t kMaxDump = 64u << 20;     // bytes of `nginx -T` output
constexpr std::size_t kMaxDepth = 64;           // nested blocks in one file
constexpr std::size_t kMaxIncludeDepth = 32;    // include inside include ...
constexpr std::size_t kMaxExpanded = 1u << 18;  // directives after include expansion
constexpr std::string_view kHeader = "# configuration file ";

// ngx_conf_parse's rules on the shared lexer's tokens, building the directive tree directly.
class Parser {
  public:
    Parser(std::string_view text, std::string file) : lex_(text), file_(std::move(file)) {}

    std::vector<ConfDirective> parse() {
        std::vector<ConfDirective> top;
        try {
            parse_block(top, 0);
        } catch (const NginxLexError& e) {
            fail(e.what(), e.line);
        }
        return top;
    }

  private:
    [[noreturn]] void fail(const std::string& what, std::size_t line) const {
        throw NginxConfError(file_ + ":" + std::to_string(line) + ": " + what);
    }

    // Reads directives into `out` until the matching '}' (depth > 0) or the end (depth 0).
    void parse_block(std::vector<ConfDirective>& out, std::size_t depth) {
        if (depth > kMaxDepth)
            fail("blocks nested deeper than " + std::to_string(kMaxDepth), lex_.line());
        std::vector<std::string> words;
        std::size_t first_line = 0;
        for (;;) {
            std::optional<NginxToken> t = lex_.next();
            if (!t) {
                if (!words.empty())
                    fail("unexpected end of file, expecting \";\" or \"}\"", lex_.line());
                if (depth > 0) fail("unexpected end of file, expecting \"}\"", lex_.line());
                return;
            }
            switch (t->kind) {
                case NginxToken::Kind::semicolon:
                case NginxToken::Kind::open: {
                    if (words.empty()) fail("unexpected \"" + t->text + "\"", t->line);
                    ConfDirective d;
                    d.name = std::move(words.front());
                    d.args.assign(std::make_move_iterator(words.begin() + 1),
                                  std::make_move_iterator(words.end()));
                    d.file = file_;
                    d.line = first_line;
                    words.clear();
                    if (t->kind == NginxToken::Kind::open) {
                        d.block = true;
                        parse_block(d.children, depth + 1);
                    }
                    out.push_back(std::move(d));
                    break;
                }
                case NginxToken::Kind::close:
                    if (!words.empty() || depth == 0) fail("unexpected \"}\"", t->line);
                    return;
                case NginxToken::Kind::word:
                    if (words.empty()) first_line = t->line;
                    words.push_back(std::move(t->text));
                    break;
            }
        }
    }

    NginxLexer lex_;
    std::string file_;
};

bool has_glob(const std::string& p) {
    return p.find_first_of("*?[") != std::string::npos;
}

std::string normal(const std::string& p) {
    return std::filesystem::path(p).lexically_normal().string();
}

class Expander {
  public:
    Expander(const std::vector<DumpedFile>& files, NginxConf& conf) : conf_(conf) {
        std::filesystem::path main(files.front().path);
        prefix_ = main.parent_path();
        for (const auto& f : files) {
            std::string n = normal(f.path);
            if (!parsed_.count(n)) parsed_.emplace(n, parse_nginx_conf(f.text, f.path));
        }
        main_ = normal(files.front().path);
    }

    std::vector<ConfDirective> run() { return expand(parsed_.at(main_), 0); }

  private:
    std::vector<ConfDirective> expand(const std::vector<ConfDirective>& in, std::size_t depth) {
        std::vector<ConfDirective> out;
        for (const auto& d : in) {
            if (++count_ > kMaxExpanded)
                throw NginxConfError(d.where() + ": more than " + std::to_string(kMaxExpanded) +
                                     " directives after expanding includes");
            if (d.name == "include" && !d.block && d.args.size() == 1) {
                if (depth >= kMaxIncludeDepth)
                    throw NginxConfError(d.where() + ": includes nested deeper than " +
                                         std::to_string(kMaxIncludeDepth));
                auto matches = resolve(d.args[0]);
                if (matches.empty())
                    conf_.unresolved_includes.push_back(d.where() + ": " + d.args[0]);
                for (const auto& m : matches) {
                    auto sub = expand(parsed_.at(m), depth + 1);
                    std::move(sub.begin(), sub.end(), std::back_inserter(out));
                }
                continue;
            }
            ConfDirective copy;
            copy.name = d.name;
            copy.args = d.args;
            copy.file = d.file;
            copy.line = d.line;
            copy.block = d.block;
            copy.children = expand(d.children, depth);
            out.push_back(std::move(copy));
        }
        return out;
    }

    std::vector<std::string> resolve(const std::string& arg) const {
        std::filesystem::path p(arg);
        std::string pattern = normal(p.is_absolute() ? arg : (prefix_ / p).string());
        std::vector<std::string> out;
        if (!has_glob(pattern)) {
            if (parsed_.count(pattern)) out.push_back(pattern);
            return out;
        }
        // glob(3) as nginx calls it: '*' stops at '/', a leading '.' must be explicit; sorted.
        for (const auto& [name, _] : parsed_)
            if (::fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME | FNM_PERIOD) == 0)
                out.push_back(name);
        return out;  // std::map keeps names sorted
    }

    NginxConf& conf_;
    std::filesystem::path prefix_;
    std::map<std::string, std::vector<ConfDirective>> parsed_;
    std::string main_;
    std::size_t count_ = 0;
};

}  // namespace

std::vector<DumpedFile> split_nginx_dump(std::string_view dump) {
    if (dump.size() > kMaxDump)
        throw NginxConfError("nginx -T output is larger than " + std::to_string(kMaxDump >> 20) +
                             " MiB");
    std::vector<DumpedFile> out;
    std::size_t pos = 0;
    while (pos < dump.size()) {
        std::size_t eol = dump.find('\n', pos);
        std::size_t next = eol == std::string_view::npos ? dump.size() : eol + 1;
        std::string_view line = dump.substr(pos, next - pos);
        if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
        // A header names an absolute path (nginx prints full names) and ends with ':'.
        bool header = line.size() > kHeader.size() + 2 &&
                      line.substr(0, kHeader.size()) == kHeader && line.back() == ':' &&
                      line[kHeader.size()] == '/';
        if (header) {
            if (!out.empty() && !out.back().text.empty() && out.back().text.back() == '\n')
                out.back().text.pop_back();  // the newline nginx adds after each file
            std::string_view name = line.substr(kHeader.size(), line.size() - kHeader.size() - 1);
            out.push_back({std::string(name), {}});
        } else if (out.empty()) {
            if (!line.empty())
                throw NginxConfError("nginx -T output does not start with \"" +
                                     std::string(kHeader) + "PATH:\"");
        } else {
            out.back().text.append(dump.substr(pos, next - pos));
        }
        pos = next;
    }
    if (!out.empty() && !out.back().text.empty() && out.back().text.back() == '\n')
        out.back().text.pop_back();
    if (out.empty()) throw NginxConfError("nginx -T printed no configuration file");
    return out;
}

std::vector<ConfDirective> parse_nginx_conf(std::string_view text, const std::string& file) {
    return Parser(text, file).parse();
}

NginxConf parse_nginx_dump(std::string_view dump) {
    auto files = split_nginx_dump(dump);
    NginxConf conf;
    for (const auto& f : files) conf.files.push_back(f.path);
    Expander ex(files, conf);
    conf.root = ex.run();
    return conf;
}

long long parse_nginx_time_ms(std::string_view s) {
    // Units in decreasing order, as ngx_parse_time requires: y M w d h m s ms.
    struct Unit {
        std::string_view name;
        long long ms;
    };
    static constexpr Unit kUnits[] = {
        {"y", 365LL * 86400000}, {"M", 30LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
        {"h", 3600000},          {"m", 60000},           {"s", 1000},           {"ms", 1}};
    constexpr long long kMax = 1LL << 50;
    long long total = 0;
    int last_unit = -1;
    std::size_t i = 0;
    bool any = false;
    while (i < s.size()) {
        if (s[i] == ' ') {
            ++i;
            continue;
        }
        if (s[i] < '0' || s[i] > '9') return -1;
        long long v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i] - '0');
            if (v > kMax) return -1;
            ++i;
        }
        int unit = -1;
        if (i == s.size() || s[i] == ' ') {
            unit = 6;  // a bare number is seconds
        } else if (s.substr(i, 2) == "ms") {
            unit = 7;
            i += 2;
        } else {
            for (int u = 0; u < 7; ++u)
                if (s[i] == kUnits[u].name[0]) unit = u;
            if (unit < 0) return -1;
            ++i;
        }
        if (unit <= last_unit) return -1;
        last_unit = unit;
        if (v > kMax / kUnits[unit].ms) return -1;
        total += v * kUnits[unit].ms;
        if (total > kMax) return -1;
        any = true;
    }
    return any ? total : -1;
}

}  // namespace zdd
