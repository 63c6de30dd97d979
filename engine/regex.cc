/*
 * regex.cc — "=~" patterns on RE2, behind the C interface of ioc/regex.h.
 *
 * Why RE2 and not regcomp(3): glibc's regcomp spells out what a repetition
 * repeats and computes closures over the copies, so small patterns such as
 * ((((a?){1,3}){1,3}){1,}){1,3} kept it busy for minutes, and "a" followed by
 * twenty '+' took 400 MB. Fuzzing kept finding new shapes; a pre-check could
 * only chase them. RE2 compiles in time and memory bounded by the pattern and
 * a budget (max_mem below), matches in time linear in the text without
 * backtracking, and refuses what exceeds its limits with a reason. PCRE2's
 * alternatives were measured and rejected: its backtracking matcher needs a
 * step limit (and then answers wrongly), and its DFA matcher restarts at
 * every position, quadratic in the text ((a|aa)+$ took 0.4 s on 5000 bytes).
 *
 * This is the project's one C++ file: RE2 has no C interface. Nothing throws
 * across it: allocation failure becomes IOC_ENOMEM.
 *
 * POSIX meaning, as regcomp(REG_EXTENDED) without REG_NEWLINE gave it:
 * posix_syntax (egrep syntax: no \d, no back-references), one_line (^ and $
 * at the value's ends only) and dot_nl ('.' matches a newline too).
 */
#include <cstdio>
#include <new>

#include <re2/re2.h>

#include "ioc/error.h"
#include "ioc/regex.h"

/* Budget for one pattern's programs and matching caches. A rule's pattern
 * needs a few KB; this admits about 40,000 program instructions, and a
 * matcher that fills its cache flushes it rather than growing. */
static const int64_t REGEX_MAX_MEM = 2 << 20;

struct ioc_regex {
    RE2 re;
    explicit ioc_regex(const char *pattern, const RE2::Options &o) : re(pattern, o) {}
};

int ioc_regex_compile(const char *pattern, struct ioc_regex **out, char *why, size_t whylen)
{
    RE2::Options o;
    o.set_posix_syntax(true);
    o.set_one_line(true);
    o.set_dot_nl(true);
    o.set_never_capture(true);
    o.set_log_errors(false);
    o.set_max_mem(REGEX_MAX_MEM);
    *out = nullptr;
    struct ioc_regex *r;
    try {
        r = new ioc_regex(pattern, o);
    } catch (const std::bad_alloc &) {
        return IOC_ENOMEM;
    }
    if (!r->re.ok()) {
        if (r->re.error_code() == RE2::ErrorPatternTooLarge) {
            snprintf(why, whylen, "too large once its repetitions are spelled out: nest fewer "
                                  "+, * and {n,m}");
        } else {
            /* RE2's message names the offending part ("missing ): (ab"). */
            snprintf(why, whylen, "%s", r->re.error().c_str());
        }
        delete r;
        return IOC_EEXPR;
    }
    *out = r;
    return 0;
}

bool ioc_regex_match(const struct ioc_regex *r, const char *s, size_t len)
{
    /* The matching caches are bounded by max_mem and allocated once, at
     * first use; should even that fail, the value does not match. */
    try {
        return RE2::PartialMatch(re2::StringPiece(s, len), r->re);
    } catch (const std::bad_alloc &) {
        return false;
    }
}

void ioc_regex_free(struct ioc_regex *r)
{
    delete r;
}
