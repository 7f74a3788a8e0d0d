#include "nginx/nginx_lexer.hpp"

#include <algorithm>

namespace zdd {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// nginx unescapes \" \' \\ \t \r \n in every token (quoted or not); other backslashes stay.
std::string unescape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size()) {
            char n = raw[i + 1];
            if (n == '"' || n == '\'' || n == '\\') {
                out += n;
                ++i;
                continue;
            }
            if (n == 't' || n == 'r' || n == 'n') {
                out += n == 't' ? '\t' : n == 'r' ? '\r' : '\n';
                ++i;
                continue;
            }
        }
        out += raw[i];
    }
    return out;
}

}  // namespace

std::optional<NginxToken> NginxLexer::next() {
    skip_space_and_comments();
    if (i_ >= s_.size()) return std::nullopt;
    const char c = s_[i_];
    NginxToken t;
    t.line = line_;
    if (c == ';' || c == '{' || c == '}') {
        t.kind = c == ';'   ? NginxToken::Kind::semicolon
                 : c == '{' ? NginxToken::Kind::open
                            : NginxToken::Kind::close;
        t.text = std::string(1, c);
        ++i_;
        return t;
    }
    t.text = read_word();
    return t;
}

void NginxLexer::skip_space_and_comments() {
    while (i_ < s_.size()) {
        char c = s_[i_];
        if (c == '\0') throw NginxLexError(line_, "NUL byte in config");
        if (c == '\n') {
            ++line_;
            ++i_;
        } else if (is_space(c)) {
            ++i_;
        } else if (c == '#') {
            while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        } else {
            return;
        }
    }
}

std::string NginxLexer::read_word() {
    const std::size_t start_line = line_;
    const char q = s_[i_];
    if (q == '"' || q == '\'') {
        const std::size_t begin = ++i_;
        while (i_ < s_.size() && s_[i_] != q) {
            if (s_[i_] == '\0') throw NginxLexError(line_, "NUL byte in config");
            if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
                if (s_[i_ + 1] == '\n') ++line_;
                ++i_;
            } else if (s_[i_] == '\n') {
                ++line_;
            }
            ++i_;
        }
        if (i_ >= s_.size()) throw NginxLexError(start_line, "unterminated quoted string");
        std::string_view raw = s_.substr(begin, i_ - begin);
        ++i_;
        // nginx wants a separator right after the closing quote.
        if (i_ < s_.size() && !is_space(s_[i_]) && s_[i_] != ';' && s_[i_] != '{' && s_[i_] != ')')
            throw NginxLexError(line_,
                                std::string("unexpected \"") + s_[i_] + "\" after a quoted string");
        return unescape(raw);
    }
    const std::size_t begin = i_;
    bool variable = false;
    while (i_ < s_.size()) {
        char c = s_[i_];
        if (c == '\0') throw NginxLexError(line_, "NUL byte in config");
        if (c == '{' && variable) {  // "${name}" stays one word
            variable = false;
            ++i_;
            continue;
        }
        variable = false;
        if (c == '\\') {
            if (i_ + 1 < s_.size() && s_[i_ + 1] == '\n') ++line_;
            i_ += 2;
            continue;
        }
        if (c == '$') {
            variable = true;
            ++i_;
            continue;
        }
        if (is_space(c) || c == ';' || c == '{') break;
        ++i_;
    }
    i_ = std::min(i_, s_.size());
    return unescape(s_.substr(begin, i_ - begin));
}

}  // namespace zdd
