/*
 * simdjson_read: the "near the hardware" baseline for tests/bench/run.sh.
 *
 * REPEAT times: reads an NDJSON file into one reused padded buffer (with
 * read(2) each time, as `repoexfil scan` must read its input), walks it with simdjson's
 * On-Demand document stream (iterate_many) and, for
 * every event object, reads the fields the rule needs: EventID, Image,
 * CommandLine, ParentImage, User, Hostname/Computer and
 * DestinationHostname. Values are really read (strings unescaped into
 * simdjson's string buffer, EventID as an integer) and folded into a
 * checksum so nothing can be optimised away. On-Demand only validates what
 * it visits; this is the floor, not an equal-work comparison.
 *
 * Built with g++ against Debian's libsimdjson-dev. Prints
 * "events=N bad=M checksum=C"; the caller measures CPU time.
 *
 * With "mem" as third argument the file is read only once and the passes
 * run over memory: the parser's own ceiling, shown for information.
 *
 * usage: simdjson_read FILE [REPEAT [mem]]
 */
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace simdjson;

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fputs("usage: simdjson_read FILE [REPEAT [mem]]\n", stderr);
        return 2;
    }
    long repeat = argc > 2 ? std::atol(argv[2]) : 1;
    bool in_memory = argc > 3 && std::string_view(argv[3]) == "mem";
    std::FILE *f = std::fopen(argv[1], "rb");
    if (!f || std::fseek(f, 0, SEEK_END) != 0) {
        std::perror(argv[1]);
        return 2;
    }
    long size = std::ftell(f);
    if (size < 0) {
        std::perror(argv[1]);
        return 2;
    }
    padded_string json((size_t)size);
    ondemand::parser parser;
    unsigned long events = 0, bad = 0, sum = 0;
    for (long r = 0; r < repeat; r++) {
        std::rewind(f);
        if ((r == 0 || !in_memory) &&
            std::fread(json.data(), 1, (size_t)size, f) != (size_t)size) {
            std::perror(argv[1]);
            return 2;
        }
        ondemand::document_stream docs;
        if (parser.iterate_many(json, 1 << 20).get(docs)) {
            std::fputs("iterate_many failed\n", stderr);
            return 2;
        }
        for (auto doc : docs) {
            ondemand::object obj;
            if (doc.get_object().get(obj)) {
                bad++;
                continue;
            }
            bool ok = true;
            for (auto field : obj) {
                std::string_view key;
                if (field.unescaped_key().get(key)) {
                    ok = false;
                    break;
                }
                ondemand::value val = field.value();
                if (key == "EventID") {
                    int64_t id;
                    if (!val.get_int64().get(id))
                        sum += (unsigned long)id;
                } else if (key == "Image" || key == "CommandLine" ||
                           key == "ParentImage" || key == "User" ||
                           key == "Hostname" || key == "Computer" ||
                           key == "DestinationHostname") {
                    std::string_view s;
                    if (!val.get_string().get(s))
                        sum += s.size() + (s.empty() ? 0 : (unsigned char)s[0]);
                }
            }
            if (ok)
                events++;
            else
                bad++;
        }
    }
    std::fclose(f);
    std::printf("events=%lu bad=%lu checksum=%lu\n", events, bad, sum);
    return 0;
}
