"""Every relative link in the docs resolves.

Checks the links of README.md, CHANGELOG.md, docs/*.md, bench/*.md and
events/*.md: the file or directory a link names exists, and a `#anchor`
matches a heading of the target (or of the page itself) as GitHub makes
anchors from headings. Links to other sites are not fetched.

Run from the repository root (scripts/test.sh does):
    python3 tests/doc_links.py [FILE.md ...]
Exits 1 and names each broken link, with its file and line.
"""

import glob
import os
import re
import sys
import unicodedata

PAGES = ["README.md", "CHANGELOG.md", "docs/*.md", "bench/*.md", "events/*.md"]

FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target); the target ends at a space (a title
# may follow) or at the closing parenthesis.
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
# [label]: target
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_HREF = re.compile(r"<a\s+[^>]*href=[\"']([^\"']+)[\"']", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def strip_code_spans(line):
    """The line with inline code removed: a link inside `…` is not a link."""
    return CODE_SPAN.sub("", line)


def heading_text(markdown):
    """A heading's text as GitHub renders it: links as their text, no
    code marks, emphasis or HTML tags."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)
    return text.strip()


def slug(text):
    """GitHub's anchor for a heading (github-slugger): lower case; every
    character that is not a letter, a digit, a space, `-` or `_` removed;
    each space a `-`."""
    out = []
    for ch in text.lower():
        category = unicodedata.category(ch)
        if ch in " -_" or category[0] in "LN" or category == "Mn":
            out.append("-" if ch == " " else ch)
    return "".join(out)


def lines_outside_code(path):
    """(line number, line) of the lines outside fenced code blocks."""
    fenced = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            match = FENCE.match(line)
            if match:
                if fenced is None:
                    fenced = match.group(1)
                elif fenced == match.group(1):
                    fenced = None
                continue
            if fenced is None:
                yield number, line


_anchors = {}


def anchors(path):
    """The anchors of a Markdown file: its headings' slugs (a repeated one
    gets -1, -2, … as on GitHub) and its HTML anchors."""
    if path in _anchors:
        return _anchors[path]
    found, seen = set(), {}
    previous = ""
    for _, line in lines_outside_code(path):
        text = None
        match = HEADING.match(line)
        if match:
            text = match.group(2)
        elif SETEXT.match(line) and previous.strip() and not previous.lstrip().startswith(("|", "-", "*")):
            text = previous.strip()
        if text is not None:
            base = slug(heading_text(text))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    _anchors[path] = found
    return found


def links(path):
    """(line number, target) of every link in a Markdown file."""
    for number, line in lines_outside_code(path):
        if REFERENCE.match(line):
            yield number, REFERENCE.match(line).group(1)
            continue
        text = strip_code_spans(line)
        for target in INLINE_LINK.findall(text):
            yield number, target
        for target in HTML_HREF.findall(text):
            yield number, target


def is_external(target):
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def check(path):
    """The broken links of one page, as messages."""
    problems = []
    base = os.path.dirname(path)
    for number, target in links(path):
        if not target or is_external(target):
            continue
        file_part, _, anchor = target.partition("#")
        if file_part:
            resolved = os.path.normpath(os.path.join(base, file_part))
            if not os.path.exists(resolved):
                problems.append(f"{path}:{number}: {target}: no such file {resolved}")
                continue
        else:
            resolved = path
        if anchor and resolved.endswith(".md") and os.path.isfile(resolved):
            if anchor not in anchors(resolved):
                problems.append(f"{path}:{number}: {target}: no heading in {resolved} has the anchor #{anchor}")
    return problems


def main(argv):
    pages = argv or sorted({p for pattern in PAGES for p in glob.glob(pattern)})
    problems = [problem for page in pages for problem in check(page)]
    for problem in problems:
        print(problem)
    count = sum(1 for page in pages for _ in links(page))
    if problems:
        print(f"doc links: {len(problems)} broken link(s) in {len(pages)} page(s)", file=sys.stderr)
        return 1
    print(f"doc links: {count} link(s) in {len(pages)} page(s), every relative one resolves")
    return 0


def self_test():
    """The slug rules on headings these docs use."""
    cases = {
        "Init is still above 1.2× the floor": "init-is-still-above-12-the-floor",
        "Slack's requests": "slacks-requests",
        "`JOBS_CONFIG`": "jobs_config",
        "`sam deploy --guided`: SAM's prompts": "sam-deploy---guided-sams-prompts",
        "Discovery for `/jobs run` and the watch": "discovery-for-jobs-run-and-the-watch",
        "Alarms and `AlarmTopicArn`": "alarms-and-alarmtopicarn",
        "What the messages look like": "what-the-messages-look-like",
        "🚀 Started": "-started",
    }
    for heading, want in cases.items():
        got = slug(heading_text(heading))
        assert got == want, f"{heading!r}: {got!r}, want {want!r}"


if __name__ == "__main__":
    self_test()
    sys.exit(main(sys.argv[1:]))
