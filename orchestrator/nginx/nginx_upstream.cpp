#include "nginx/nginx_upstream.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <charconv>
#include <cstring>

#include "nginx/nginx_lexer.hpp"
#include "state/atomic_file.hpp"
#include "core/message_text.hpp"

namespace zdd {

UpstreamParseError::UpstreamParseError(const std::string& what)
    : std::runtime_error(printable(what)) {}

namespace {

constexpr std::size_t kMaxText = 1u << 20;
constexpr std::size_t kMaxServers = 1000;
constexpr std::size_t kMaxTokens = 64;  // per directive
constexpr int kMaxDepth = 16;

// Every token of the text (nginx's lexer, nginx/nginx_lexer.hpp), errors as "line N: what".
std::vector<NginxToken> tokenize(std::string_view s) {
    std::vector<NginxToken> out;
    NginxLexer lex(s);
    try {
        while (auto t = lex.next()) out.push_back(std::move(*t));
    } catch (const NginxLexError& e) {
        throw UpstreamParseError("line " + std::to_string(e.line) + ": " + e.what());
    }
    return out;
}

bool parse_uint(std::string_view s, unsigned long max, unsigned long& v) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size() && v <= max;
}

UpstreamServer parse_server(const std::vector<std::string>& args, std::size_t line) {
    auto err = [&](const std::string& what) {
        return UpstreamParseError("line " + std::to_string(line) + ": " + what);
    };
    if (args.empty()) throw err("server without an address");
    const std::string& addr = args[0];
    if (addr.rfind("unix:", 0) == 0) throw err("unix socket server '" + addr + "' not supported");
    UpstreamServer srv;
    std::string port_s;
    if (!addr.empty() && addr[0] == '[') {
        auto rb = addr.find(']');
        if (rb == std::string::npos || rb + 1 >= addr.size() || addr[rb + 1] != ':')
            throw err("server '" + addr + "': expected [IPv6]:PORT");
        srv.host = addr.substr(1, rb - 1);
        port_s = addr.substr(rb + 2);
    } else {
        auto colon = addr.rfind(':');
        if (colon == std::string::npos || addr.find(':') != colon)
            throw err("server '" + addr + "': expected HOST:PORT");
        srv.host = addr.substr(0, colon);
        port_s = addr.substr(colon + 1);
    }
    unsigned long port = 0;
    if (srv.host.empty()) throw err("server '" + addr + "': empty host");
    if (!parse_uint(port_s, 65535, port) || port == 0)
        throw err("server '" + addr + "': port is not 1-65535");
    srv.port = static_cast<uint16_t>(port);
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i].rfind("weight=", 0) == 0) {
            unsigned long w = 0;
            if (!parse_uint(std::string_view(args[i]).substr(7), 1000000, w) || w == 0)
                throw err("server '" + addr + "': bad " + args[i]);
            srv.weight = static_cast<int>(w);
        } else {
            srv.params.push_back(args[i]);
        }
    }
    return srv;
}

}  // namespace

std::string render_upstream(const Upstream& u) {
    std::string s = "# Written by zdd: replaced atomically on every deploy step.\n";
    s += "upstream " + u.name + " {\n";
    for (const auto& d : u.directives) s += "    " + d + ";\n";
    for (const auto& srv : u.servers) {
        bool v6 = srv.host.find(':') != std::string::npos;
        s += "    server " + (v6 ? "[" + srv.host + "]" : srv.host) + ":" +
             std::to_string(srv.port) + " weight=" + std::to_string(srv.weight);
        for (const auto& p : srv.params) s += " " + p;
        s += ";\n";
    }
    if (u.keepalive > 0) s += "    keepalive " + std::to_string(u.keepalive) + ";\n";
    s += "}\n";
    return s;
}

std::vector<Upstream> parse_upstreams(std::string_view text) {
    if (text.size() > kMaxText)
        throw UpstreamParseError("upstream file larger than " + std::to_string(kMaxText) +
                                 " bytes");
    const auto toks = tokenize(text);
    std::vector<Upstream> out;
    int depth = 0;            // block depth outside upstream blocks (http {}, server {} ...)
    Upstream* cur = nullptr;  // inside `upstream NAME {`
    std::vector<std::string> words;
    std::size_t words_line = 0;
    auto err = [](std::size_t line, const std::string& what) {
        return UpstreamParseError("line " + std::to_string(line) + ": " + what);
    };
    for (const auto& t : toks) {
        switch (t.kind) {
            case NginxToken::Kind::word:
                if (words.empty()) words_line = t.line;
                if (words.size() >= kMaxTokens) throw err(t.line, "directive too long");
                words.push_back(t.text);
                break;
            case NginxToken::Kind::open:
                if (cur) throw err(t.line, "unexpected '{' inside upstream " + cur->name);
                if (!words.empty() && words[0] == "upstream") {
                    if (words.size() != 2) throw err(t.line, "expected 'upstream NAME {'");
                    out.push_back(Upstream{words[1], {}, 0, {}});
                    cur = &out.back();
                } else {
                    if (++depth > kMaxDepth) throw err(t.line, "blocks nested too deep");
                }
                words.clear();
                break;
            case NginxToken::Kind::close:
                if (!words.empty()) throw err(t.line, "missing ';' before '}'");
                if (cur) {
                    cur = nullptr;
                } else if (--depth < 0) {
                    throw err(t.line, "unbalanced '}'");
                }
                break;
            case NginxToken::Kind::semicolon:
                if (words.empty()) throw err(t.line, "empty directive");
                if (cur) {
                    if (words[0] == "server") {
                        if (cur->servers.size() >= kMaxServers)
                            throw err(t.line, "too many servers");
                        cur->servers.push_back(parse_server(
                            std::vector<std::string>(words.begin() + 1, words.end()), words_line));
                    } else if (words[0] == "keepalive") {
                        unsigned long k = 0;
                        if (words.size() != 2 || !parse_uint(words[1], 1000000, k) || k == 0)
                            throw err(words_line, "keepalive needs one positive number");
                        cur->keepalive = static_cast<int>(k);
                    } else {
                        // nginx has no directive named "" (a quoted empty word): refused, or
                        // the join below would lose it and the next word would become the name.
                        if (words[0].empty()) throw err(words_line, "empty directive name");
                        std::string d = words[0];
                        for (std::size_t i = 1; i < words.size(); ++i) d += " " + words[i];
                        cur->directives.push_back(d);
                    }
                } else if (words[0] == "upstream") {
                    throw err(words_line, "upstream without a block");
                }
                words.clear();
                break;
        }
    }
    if (!words.empty()) throw err(words_line, "unterminated directive '" + words[0] + "'");
    if (cur) throw UpstreamParseError("upstream " + cur->name + ": missing closing '}'");
    if (depth != 0) throw UpstreamParseError("unbalanced '{': missing closing '}'");
    return out;
}

Upstream parse_upstream(std::string_view text, const std::string& name) {
    for (auto& u : parse_upstreams(text))
        if (u.name == name) return u;
    throw UpstreamParseError("no 'upstream " + name + " { ... }' block");
}

std::optional<std::string> UpstreamFile::read() const {
    return read_file_if_exists(path_);
}

void UpstreamFile::write(const Upstream& u) {
    write_text(render_upstream(u));
}

void UpstreamFile::write_text(const std::string& text) {
    auto before = read();
    write_file_atomic(path_, text, 0644);
    previous_ = std::move(before);
    saved_ = true;
}

void UpstreamFile::restore() {
    if (!saved_) return;
    if (previous_) {
        write_file_atomic(path_, *previous_, 0644);
    } else if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
        throw FileError("cannot remove " + path_.string() + ": " + std::strerror(errno));
    }
    saved_ = false;
    previous_.reset();
}

}  // namespace zdd
