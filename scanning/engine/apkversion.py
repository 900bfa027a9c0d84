"""Alpine package version order, as apk-tools' ``src/version.c`` defines it.

``univers`` rejects real apk versions (``1.2.4_git20230717-r5``, leading zeros, ``~hash``), so this
follows apk-tools' tokeniser instead: digits, one letter, ``_suffix[N]``, ``~commit``, ``-rN``.
Checked row by row against apk-tools' own ``test/unit/version.data``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Token kinds, in the order apk-tools allows them to follow one another.
INITIAL_DIGIT, DIGIT, LETTER, SUFFIX, SUFFIX_NO, COMMIT_HASH, REVISION_NO, END, INVALID = range(9)

# Pre-release suffixes sort before the bare version (NONE), post-release ones after it.
_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
SUFFIX_NONE = 5

LESS, EQUAL, GREATER = -1, 0, 1


@dataclass
class _Token:
    kind: int = INITIAL_DIGIT
    value: str = ""
    number: int = 0
    suffix: int = 0


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.token = _Token()
        self._digits(INITIAL_DIGIT)

    def _digits(self, kind: int) -> None:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit() and self.text[self.pos].isascii():
            self.pos += 1
        value = self.text[start : self.pos]
        self.token = _Token(kind if value else INVALID, value, int(value) if value else 0, self.token.suffix)

    def next(self) -> None:
        token, text = self.token, self.text
        if self.pos >= len(text):
            token.kind = END
            return
        char = text[self.pos]
        if "a" <= char <= "z":
            if token.kind > DIGIT:
                token.kind = INVALID
                return
            self.pos += 1
            self.token = _Token(LETTER, char)
        elif char == "." or "0" <= char <= "9":
            if char == "." and token.kind > DIGIT:
                token.kind = INVALID
                return
            if char == ".":
                self.pos += 1
            if token.kind in (INITIAL_DIGIT, DIGIT):
                self._digits(DIGIT)
            elif token.kind == SUFFIX:
                self._digits(SUFFIX_NO)
            else:
                token.kind = INVALID
        elif char == "_":
            if token.kind > SUFFIX_NO:
                token.kind = INVALID
                return
            self.pos += 1
            start = self.pos
            while self.pos < len(text) and "a" <= text[self.pos] <= "z":
                self.pos += 1
            value = text[start : self.pos]
            suffix = _SUFFIXES.get(value, 0)
            self.token = _Token(SUFFIX if suffix else INVALID, value, 0, suffix)
        elif char == "~":
            if token.kind >= COMMIT_HASH:
                token.kind = INVALID
                return
            self.pos += 1
            start = self.pos
            while self.pos < len(text) and text[self.pos] in "0123456789abcdef":
                self.pos += 1
            value = text[start : self.pos]
            self.token = _Token(COMMIT_HASH if value else INVALID, value)
        elif char == "-":
            if token.kind >= REVISION_NO or not text.startswith("-r", self.pos):
                token.kind = INVALID
                return
            self.pos += 2
            self._digits(REVISION_NO)
        else:
            token.kind = INVALID


def is_valid(version: str) -> bool:
    """apk_version_validate()."""
    scanner = _Scanner(version)
    while scanner.token.kind < END:
        scanner.next()
    return scanner.token.kind == END


def _token_cmp(a: _Token, b: _Token) -> int:
    if a.kind == DIGIT and (a.value.startswith("0") or b.value.startswith("0")):
        # a leading zero makes it a string comparison, as in the Gentoo rules
        return _string_cmp(a.value, b.value)
    if a.kind in (DIGIT, INITIAL_DIGIT, SUFFIX_NO, REVISION_NO):
        left, right = a.number, b.number
    elif a.kind == LETTER:
        left, right = ord(a.value[0]), ord(b.value[0])
    elif a.kind == SUFFIX:
        left, right = a.suffix, b.suffix
    else:
        return _string_cmp(a.value, b.value)
    return (left > right) - (left < right)


def _string_cmp(a: str, b: str) -> int:
    return (a > b) - (a < b)


def compare(a: str, b: str, *, fuzzy: bool = False) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b`` (apk_version_compare_fuzzy)."""
    sa, sb = _Scanner(a), _Scanner(b)
    while sa.token.kind == sb.token.kind and sa.token.kind < END:
        result = _token_cmp(sa.token, sb.token)
        if result != EQUAL:
            return result
        sa.next()
        sb.next()
    ta, tb = sa.token, sb.token
    if ta.kind == tb.kind:
        return EQUAL
    if tb.kind == END and fuzzy:
        return EQUAL
    # Equal so far: the longer one is newer unless what follows is a pre-release suffix.
    if ta.kind == SUFFIX and ta.suffix < SUFFIX_NONE:
        return LESS
    if tb.kind == SUFFIX and tb.suffix < SUFFIX_NONE:
        return GREATER
    if ta.kind > tb.kind:
        return LESS
    if tb.kind > ta.kind:
        return GREATER
    return EQUAL


_OPERATOR_BITS = {"<": {LESS}, ">": {GREATER}, "=": {EQUAL}, "~": {EQUAL}}


def matches(a: str, operator: str, b: str) -> bool:
    """apk_version_match(): does ``a operator b`` hold? Operators ``<``, ``<=``, ``=``, ``~``, ``!~``..."""
    negate = operator.startswith("!")
    operator = operator.lstrip("!")
    allowed: set[int] = set()
    for char in operator:
        allowed |= _OPERATOR_BITS.get(char, set())
    result = compare(a, b, fuzzy="~" in operator) in allowed
    return result != negate
