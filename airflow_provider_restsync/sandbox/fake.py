"""Deterministic fake values: each record draws from its own generator, keyed by (seed, api, resource, index).

Keying every record separately is what lets a page be made on request without making the pages before it.
"""

from __future__ import annotations

import calendar
import hashlib
import string
import struct
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

# Fixed, so a run today and a run next year serve the same timestamps: 2024-01-01T00:00:00Z.
EPOCH = calendar.timegm((2024, 1, 1, 0, 0, 0))

_MASK48 = (1 << 48) - 1

# (display, ascii for addresses): a few non-ASCII names, as real address books have.
FIRST_NAMES = (
    ("Maria", "maria"), ("James", "james"), ("José", "jose"), ("Aoife", "aoife"), ("Wei", "wei"),
    ("Fatima", "fatima"), ("Liam", "liam"), ("Zoë", "zoe"), ("Søren", "soren"), ("Ngozi", "ngozi"),
    ("Hiroshi", "hiroshi"), ("Priya", "priya"), ("Łukasz", "lukasz"), ("Emma", "emma"), ("Omar", "omar"),
    ("Chloé", "chloe"), ("Noah", "noah"), ("Ana", "ana"), ("Mateo", "mateo"), ("Ingrid", "ingrid"),
)  # fmt: skip
LAST_NAMES = (
    ("Garcia", "garcia"), ("Smith", "smith"), ("Müller", "mueller"), ("O'Brien", "obrien"), ("Chen", "chen"),
    ("Okafor", "okafor"), ("Rossi", "rossi"), ("Nakamura", "nakamura"), ("Kowalski", "kowalski"),
    ("Dubois", "dubois"), ("Silva", "silva"), ("Johansson", "johansson"), ("Patel", "patel"),
    ("Nguyen", "nguyen"), ("Novak", "novak"), ("Brown", "brown"),
)  # fmt: skip
# Reserved domains (RFC 2606): realistic, and never anyone's real mailbox.
MAIL_DOMAINS = ("example.com", "example.org", "example.net", "shop.example", "corp.example", "mail.test")
WORDS = (
    "order", "invoice", "account", "update", "weekly", "report", "password", "reset", "welcome", "team",
    "shipment", "delivery", "reminder", "meeting", "project", "release", "security", "alert", "receipt",
    "subscription", "trial", "feedback", "survey", "event", "ticket", "support", "quarterly", "summary",
)  # fmt: skip
SUBJECTS = (
    "Your order #{n} has shipped",
    "Password reset requested",
    "Welcome to the team, {first}!",
    "Invoice INV-{n} is due",
    "Weekly digest: {k} new updates",
    "Your {word} summary",
    "Action required: confirm your email",
    "🎉 Your trial has started",
    "Re: {word} meeting notes",
    "Receipt for payment {n}",
)
ALNUM = string.ascii_lowercase + string.digits


_POOL = 16  # 32-bit numbers in one 64-byte BLAKE2b digest
_UNPACK = struct.Struct(f"<{_POOL}I").unpack
_INV32 = 1.0 / (1 << 32)


class Draw:
    """The random numbers of one record, with the few ``random.Random`` methods the factories use.

    The numbers are BLAKE2b digests of the record's key and a block counter, read 32 bits at a time:
    one C call buys sixteen numbers, where seeding a Mersenne Twister per record would cost more than
    making the whole record.
    """

    __slots__ = ("_block", "_key", "_next", "_pool")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._block = 0
        self._pool: tuple[int, ...] = ()
        self._next = 0
        self._refill()

    def _refill(self) -> None:
        digest = hashlib.blake2b(self._key + b"#" + str(self._block).encode()).digest()
        self._pool = _UNPACK(digest)
        self._block += 1
        self._next = 0

    def bits32(self) -> int:
        if self._next == _POOL:
            self._refill()
        value = self._pool[self._next]
        self._next += 1
        return value

    def random(self) -> float:
        """A float in [0, 1), in steps of 2**-32 (plenty for fake data)."""
        return self.bits32() * _INV32

    def randrange(self, start: int, stop: int | None = None) -> int:
        """An int in [start, stop), or in [0, start) with one argument."""
        low, high = (0, start) if stop is None else (start, stop)
        span = high - low
        if span <= 0:
            raise ValueError(f"empty range [{low}, {high})")
        # Multiply-shift instead of modulo: no bias worth the name, and no rejection loop.
        if span <= 1 << 16:
            return low + ((self.bits32() * span) >> 32)
        return low + (((self.bits32() << 32 | self.bits32()) * span) >> 64)

    def randint(self, low: int, high: int) -> int:
        return self.randrange(low, high + 1)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def choice(self, options: Sequence[T]) -> T:
        return options[(self.bits32() * len(options)) >> 32]

    def choices(self, options: Sequence[T], k: int) -> list[T]:
        return [self.choice(options) for _ in range(k)]

    def getrandbits(self, bits: int) -> int:
        value = 0
        for _ in range(0, bits, 32):
            value = (value << 32) | self.bits32()
        return value & ((1 << bits) - 1)


def rng(*key: object) -> Draw:
    """The generator of one record: the same key always draws the same values, in any process."""
    return Draw("/".join(str(part) for part in key).encode())


@lru_cache(maxsize=256)
def salt(*key: object) -> int:
    """A stable 48-bit number for a key (``hash()`` changes between processes, this does not)."""
    digest = hashlib.blake2b("/".join(str(part) for part in key).encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


def permute48(index: int, mix: int) -> int:
    """A bijection on 48-bit integers (for each ``mix``): ids that look random yet never collide."""
    # Odd multipliers and right xor-shifts are each invertible modulo 2**48, so their chain is too.
    value = (index * 0x5DEECE66D + mix) & _MASK48
    value ^= value >> 17
    value = (value * 0x7F4A7C15) & _MASK48
    return value ^ (value >> 23)


def unique_uuid(r: Draw, index: int, mix: int) -> str:
    """A version-4 UUID: 74 random bits and 48 bits that are a bijection of ``index``: unique per index."""
    high = r.getrandbits(64)
    # Version nibble 4 and variant bits 10, as uuid.uuid4() sets them.
    high = (high & ~(0xF << 12)) | (0x4 << 12)
    low = (0x8000 | (r.bits32() & 0x3FFF)) << 48 | permute48(index, mix)
    text = f"{high:016x}{low:016x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def iso(seconds: int, millis: int | None = None) -> str:
    """ISO-8601 UTC timestamp ``seconds`` after the epoch with a ``Z`` suffix, and milliseconds if given."""
    day, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{_date(day)}T{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{text}.{millis:03d}Z" if millis is not None else text + "Z"


@lru_cache(maxsize=4096)
def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(EPOCH + day * 86_400))


def pick(r: Draw, options: Sequence[T]) -> T:
    return r.choice(options)


def maybe(r: Draw, value: T, null_rate: float = 0.1) -> T | None:
    """``value``, or None at ``null_rate``: nullable fields are null now and then."""
    return None if r.random() < null_rate else value


def person(r: Draw) -> tuple[str, str]:
    """(display name, email address), from a single draw split in mixed radix."""
    value = r.bits32()
    value, first_at = divmod(value, len(FIRST_NAMES))
    value, last_at = divmod(value, len(LAST_NAMES))
    value, style = divmod(value, 3)
    value, number = divmod(value, 100)
    first, first_ascii = FIRST_NAMES[first_at]
    last, last_ascii = LAST_NAMES[last_at]
    local = (f"{first_ascii}.{last_ascii}", f"{first_ascii[0]}{last_ascii}", f"{first_ascii}{number}")[style]
    return f"{first} {last}", f"{local}@{MAIL_DOMAINS[value % len(MAIL_DOMAINS)]}"


def subject(r: Draw) -> str:
    template = pick(r, SUBJECTS)
    if "{" not in template:
        return template
    return template.format(
        n=r.randrange(10_000, 99_999),
        k=r.randrange(2, 40),
        first=pick(r, FIRST_NAMES)[0],
        word=pick(r, WORDS),
    )


def sentence(r: Draw, low: int = 6, high: int = 14) -> str:
    """Some words; each draw picks two, since a record's cost is mostly its number of draws."""
    count = r.randint(low, high)
    words: list[str] = []
    for _ in range((count + 1) // 2):
        pair, first = divmod(r.bits32(), len(WORDS))
        words += (WORDS[first], WORDS[pair % len(WORDS)])
    text = " ".join(words[:count])
    return text[0].upper() + text[1:] + "."


def token(r: Draw, length: int, alphabet: str = ALNUM) -> str:
    return "".join(r.choices(alphabet, k=length))


def phone(r: Draw) -> str:
    # 555-01xx numbers are reserved for fiction.
    return f"+1{r.randrange(200, 999)}55501{r.randrange(100):02d}"


def ip_address(r: Draw) -> str:
    # Documentation ranges (RFC 5737).
    return f"{pick(r, ('192.0.2', '198.51.100', '203.0.113'))}.{r.randrange(1, 255)}"
