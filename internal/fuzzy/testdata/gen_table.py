#!/usr/bin/python3
"""Generate partial_ratio.tsv, the reference table for package fuzzy.

Each row is the score the Python original's fuzzy search gives a key:

    fuzz.partial_ratio(utils.full_process(query), utils.full_process(key))

which is what fuzzywuzzy's process.extract computes with its default
processor, with python-Levenshtein installed (Debian: python3-fuzzywuzzy
and python3-levenshtein; run with the system /usr/bin/python3).

Output columns (tab separated): query and key as JSON strings, then the
score. Lines starting with '#' are comments. The rows are deterministic:
random cases come from a fixed seed.

Usage: /usr/bin/python3 gen_table.py > partial_ratio.tsv
"""

import json
import random
import sys
import unicodedata

from fuzzywuzzy import fuzz, utils

if fuzz.SequenceMatcher.__module__ != "fuzzywuzzy.StringMatcher":
    sys.exit("python-Levenshtein is not installed: fuzzywuzzy would use difflib")


def score(q, k):
    return fuzz.partial_ratio(utils.full_process(q), utils.full_process(k))


KEYS = [
    "user:42:profile",
    "user:42:settings",
    "user:1337:profile",
    "users:list:page:1",
    "session:abc123",
    "session:ABC123:data",
    "product_list:page:2",
    "product:9001:details",
    "product:9001:reviews",
    "products:category:electronics",
    "order:2024-01-15:12345",
    "cart:user:42",
    "api:v1:users:42",
    "api/v2/products?page=3&sort=price",
    "cache:warmup:homepage",
    "config:feature_flags",
    "rate_limit:192.168.0.1",
    "search:results:laptop",
    "tmp",
    "a",
    "x:y:z",
    "yokedcache:user:42",
    "User Profile 42",
    "USER:42:PROFILE",
    "inventory:warehouse-7:sku-00042",
    "email:john.doe@example.com",
    "leaderboard:weekly:2024-W03",
]

QUERIES = [
    "user",
    "user 42",
    "usr",
    "profile",
    "profle",
    "prfile",
    "session",
    "sesion",
    "abc123",
    "product list",
    "product_list",
    "prodct",
    "page 2",
    "42",
    "USER:42",
    "settings",
    "electronics",
    "electornics",
    "laptop",
    "order 12345",
    "feature flags",
    "api v1",
    "z",
    "warmup",
    "john doe",
    "weekly",
]

SPECIAL = [
    # empty and punctuation-only
    ("", ""),
    ("", "user:42"),
    ("user", ""),
    (":::", "user:42"),
    ("user", "::--::"),
    ("!!!", "???"),
    ("   ", "user"),
    ("_", "user_42"),
    ("_", "::"),
    # equal strings, case, punctuation
    ("user:42:profile", "user:42:profile"),
    ("USER:42:PROFILE", "user:42:profile"),
    ("user-42-profile", "user:42:profile"),
    ("user 42 profile", "user:42:profile"),
    ("user  42", "user:42"),
    ("user:42", "user::42"),
    ("  user  ", "user"),
    ("user_42", "user 42"),
    ("user.42", "user_42"),
    ("Hello, World!", "hello world"),
    ("a", "a"),
    ("a", "A"),
    ("a", "b"),
    ("ab", "ba"),
    # query longer than key
    ("user:42:profile:settings:extra", "user:42"),
    ("product list page two", "product"),
    ("a very long query that is longer than the key", "key"),
    ("abcdefghij", "abc"),
    ("session abc123 data", "session:abc123"),
    # equal lengths
    ("abcd", "abdc"),
    ("user", "used"),
    ("1234", "4321"),
    # repeated characters
    ("aaaa", "aaaaaaab"),
    ("aaa", "aaaaaaaaaa"),
    ("ab", "aaaaaaaaab"),
    ("abab", "babababababa"),
    ("aaaaaaaaaa", "aaa"),
    ("zzz", "aaaaaaaaaa"),
    ("aab", "abaabaab"),
    ("mississippi", "missisippi"),
    ("banana", "bananananana"),
    ("xxyyxx", "xyxyxyxyxy"),
    # known partial-ratio quirks (substrings that do not score 100)
    ("ab", "axab"),
    ("abc", "aXbXcabc"),
    ("fuzzy", "fzuzzy fuzzy"),
    ("test", "tset test"),
    ("new york mets", "the new york mets vs atlanta braves"),
    ("yankees", "new york yankees"),
    # unicode: accents, CJK, emoji, other scripts
    ("café", "cafe:menu"),
    ("cafe", "café:menu"),
    ("Café", "CAFÉ"),
    ("naïve", "naive"),
    ("über", "user:über:profile"),
    ("ÜBER", "über"),
    ("résumé", "user:resume:42"),
    ("ñandú", "animal:ñandú"),
    ("straße", "STRASSE"),
    ("Straße", "strasse:42"),
    ("用户", "用户:42:资料"),
    ("用戶", "用户:42"),
    ("東京", "city:東京:weather"),
    ("東京タワー", "東京"),
    ("キャッシュ", "cache:キャッシュ"),
    ("한국어", "lang:한국어"),
    ("😀", "emoji:😀"),
    ("😀", "😀"),
    ("😀😀", "🙂"),
    ("emoji😀", "emoji:😀:face"),
    ("user🔥42", "user:42"),
    ("👍🏽", "thumbs:👍🏽"),
    ("ΟΔΟΣ", "οδος"),
    ("ΟΔΟΣ", "οδος:42"),
    ("ΟΔΟΣ:42", "οδοσ 42"),
    ("ΣΑΣ", "σας"),
    ("Σ", "σ"),
    ("ΑΣ", "ας"),
    ("ΑΣΑ", "ασα"),
    ("ΑΣ_Β", "ας β"),
    ("ΑʰΣ", "αʰς"),
    ("İstanbul", "istanbul"),
    ("İSTANBUL", "i̇stanbul"),
    ("DİYARBAKIR", "diyarbakir"),
    ("Ǆemal", "ǆemal"),
    ("ǅ", "ǆ"),
    ("Ⅻ", "ⅻ"),
    ("½", "1 2"),
    ("²", "2"),
    ("٣", "3"),
    ("e\u0301", "é"),
    ("e\u0301", "e"),
    ("a\u200bb", "a b"),
    ("tab\there", "tab here"),
    ("new\nline", "new line"),
    ("nul\x00byte", "nul byte"),
    ("\u00a0nbsp\u00a0", "nbsp"),
    ("ﬁle", "file"),
    ("Ａｂｃ", "abc"),
    ("Ａｂｃ", "ａｂｃ"),
    ("µ", "μ"),
    ("K", "k"),
    ("Å", "å"),
]

LONG_KEYS = [
    "tenant:acme-corporation:region:eu-west-1:service:billing:customer:"
    "000000012345:invoices:year:2024:month:01:page:0003:sort:amount:desc:"
    "filter:status=unpaid:currency=EUR:include=line_items,taxes,discounts:v2",
    ":".join("segment%02d" % i for i in range(30)),
    "x" * 120 + "needle" + "y" * 120,
    "ab" * 130,
    "user:" + "42" * 100 + ":profile",
    " ".join(["lorem", "ipsum", "dolor", "sit", "amet"] * 12),
]

LONG_QUERIES = [
    "invoices 2024",
    "customer 12345",
    "segment17",
    "needle",
    "nedle",
    "abba",
    "profile",
    "dolor sit",
    "unpaid eur",
    "billing eu west",
]

TYPO_BASES = [
    "profile", "session", "product", "settings", "inventory", "warehouse",
    "leaderboard", "electronics", "category", "customer", "invoice",
]


def typo(rng, w):
    ops = rng.randint(1, 2)
    w = list(w)
    for _ in range(ops):
        op = rng.choice("sdit")
        i = rng.randrange(len(w))
        if op == "s":
            w[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        elif op == "d" and len(w) > 1:
            del w[i]
        elif op == "i":
            w.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyz"))
        elif op == "t" and i + 1 < len(w):
            w[i], w[i + 1] = w[i + 1], w[i]
    return "".join(w)


def rand_str(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def main():
    rng = random.Random(20240115)
    rows = []
    seen = set()

    def add(q, k):
        if (q, k) in seen:
            return
        seen.add((q, k))
        rows.append((q, k, score(q, k)))

    for q, k in SPECIAL:
        add(q, k)
        add(k, q)
    for q in QUERIES:
        for k in rng.sample(KEYS, 6):
            add(q, k)
    for k in LONG_KEYS:
        assert len(k) >= 200, len(k)
        for q in LONG_QUERIES:
            add(q, k)
        add(k, k)
        add(k, k.upper())
        add(k[:150], k)
        add(k, "short")
    for w in TYPO_BASES:
        for _ in range(4):
            t = typo(rng, w)
            add(t, rng.choice(KEYS) + ":" + w)
            add(t, w)
    # Random strings over small alphabets exercise ties in the edit script.
    alphabets = ["ab", "abc", "abcd", "ab:_ ", "aAbB-", "xyz01", "aé😀用_ :"]
    for alpha in alphabets:
        for _ in range(60):
            q = rand_str(rng, alpha, 0, 8)
            k = rand_str(rng, alpha, 0, 24)
            add(q, k)
    for _ in range(80):
        q = rand_str(rng, "abcdefgh", 1, 30)
        k = rand_str(rng, "abcdefgh", 1, 90)
        add(q, k)
    # Longer than 64 runes (multi-word bit vectors).
    for _ in range(30):
        q = rand_str(rng, "abcde", 60, 140)
        k = rand_str(rng, "abcde", 60, 300)
        add(q, k)

    out = sys.stdout
    out.write("# fuzz.partial_ratio(utils.full_process(q), utils.full_process(k))\n")
    out.write("# fuzzywuzzy with python-Levenshtein, Python %s, Unicode %s\n"
              % (sys.version.split()[0], unicodedata.unidata_version))
    out.write("# columns: query (JSON) TAB key (JSON) TAB score\n")
    for q, k, s in rows:
        out.write("%s\t%s\t%d\n" % (json.dumps(q, ensure_ascii=False),
                                    json.dumps(k, ensure_ascii=False), s))


if __name__ == "__main__":
    main()
