#include "sse_check.hpp"

#include <nlohmann/json.hpp>

namespace zdd_demo_test {

std::vector<SseEvent> parse_sse(const std::string& text) {
    std::vector<SseEvent> out;
    SseReader reader([&](const SseEvent& e) { out.push_back(e); });
    reader.feed(text);
    return out;
}

std::string check_sse(const std::vector<SseEvent>& events, const std::string& final_event,
                      long expected_total) {
    if (events.empty()) return "no events at all";
    const SseEvent& last = events.back();
    if (last.event != final_event)
        return "last event is '" + last.event + "', expected '" + final_event + "'";
    long total = expected_total;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        const SseEvent& e = events[i];
        const long want = static_cast<long>(i) + 1;
        if (!e.event.empty()) return "unexpected event '" + e.event + "' before the end";
        auto data = nlohmann::json::parse(e.data, nullptr, false);
        if (data.is_discarded() || !data.contains("n") || !data.contains("total"))
            return "event " + std::to_string(want) + " has bad data: " + e.data;
        const long n = data["n"].get<long>();
        if (n != want || e.id != std::to_string(want))
            return "expected event " + std::to_string(want) + ", got n=" + std::to_string(n) +
                   " id=" + e.id;
        if (total < 0) total = data["total"].get<long>();
        if (data["total"].get<long>() != total)
            return "event " + std::to_string(want) + " says total " + data["total"].dump() +
                   ", expected " + std::to_string(total);
    }
    const long sent = static_cast<long>(events.size()) - 1;
    if (final_event == "done" && total >= 0 && sent != total)
        return "done after " + std::to_string(sent) + " events, expected " + std::to_string(total);
    if (final_event == "done" && total < 0 && sent != 0) return "could not tell the total";
    auto fin = nlohmann::json::parse(last.data, nullptr, false);
    if (final_event == "done" && (fin.is_discarded() || fin.value("total", -1L) != sent))
        return "done event data disagrees: " + last.data;
    if (final_event == "cancelled" && (fin.is_discarded() || fin.value("sent", -1L) != sent))
        return "cancelled event data disagrees: " + last.data;
    return "";
}

}  // namespace zdd_demo_test
