"""Phrase bank and vectorised composer for the simulated reviews of :mod:`helpers.data.shopsim`.

A review is a few *pieces* joined into one text:

* an optional **opener** whose tone follows the reviewer's overall sentiment,
* an optional **filler** sentence that carries no sentiment ("Bought it for my dad."),
* one to four **aspect sentences** (delivery, quality, price, service), each with its
  own polarity on a five-level scale (strongly negative ... strongly positive),
* an optional **closer** ("Would buy again", "Never again").

Each aspect sentence is either *subject + predicate* ("The parcel" + "showed up a day
early") or a stand-alone sentence ("Had to chase them three times for a refund"), drawn
from many paraphrases per aspect x polarity, including negations in both directions
("wasn't great", "not bad at all", "couldn't have been faster"). When two consecutive
pieces disagree in sign they are often joined by a contrast ("..., but ...") so mixed
reviews read naturally. Finally a share of texts gets noise: common misspellings,
doubled letters dropped, all lower case, shouting, extra exclamation marks.

Everything is vectorised: phrases are picked by fancy indexing into object arrays and
joined by element-wise concatenation; the noise uses pandas string methods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ASPECTS: tuple[str, ...] = ("delivery", "quality", "price", "service")
#: Polarity levels, index 0..4.
LEVELS: tuple[str, ...] = ("strong_neg", "neg", "neutral", "pos", "strong_pos")

# Subjects per aspect; predicates below are written to fit every subject of the aspect.
SUBJECTS: dict[str, tuple[str, ...]] = {
    "delivery": ("Delivery", "Shipping", "The parcel", "My order", "The package", "Dispatch"),
    "quality": ("The quality", "Build quality", "The material", "The finish", "It"),
    "price": ("The price", "The price tag", "What I paid", "The cost", "Price"),
    "service": (
        "Customer service",
        "The support team",
        "The seller",
        "The help desk",
        "Their service",
        "The shop",
    ),
}

PREDICATES: dict[str, dict[str, tuple[str, ...]]] = {
    "delivery": {
        "strong_neg": (
            "took almost three weeks",
            "never showed up on the promised day",
            "was an absolute disaster",
            "arrived crushed and soaking wet",
            "was delayed again and again with no explanation",
            "got lost twice before it finally turned up",
            "was ridiculously slow",
        ),
        "neg": (
            "was slower than advertised",
            "wasn't as quick as I hoped",
            "took a few days longer than promised",
            "was not fast at all",
            "arrived with a dented box",
            "came later than the tracking said",
            "was a bit of a hassle",
        ),
        "neutral": (
            "was okay",
            "arrived roughly on time",
            "was about what you'd expect",
            "took the usual week",
            "was fine, nothing special",
            "was neither fast nor slow",
        ),
        "pos": (
            "was quick",
            "arrived on time",
            "wasn't slow at all",
            "was not bad, a couple of days",
            "came well packed",
            "was faster than I expected",
            "turned up when promised",
        ),
        "strong_pos": (
            "arrived the very next morning",
            "couldn't have been faster",
            "was lightning fast",
            "showed up two days early",
            "was seriously impressive",
            "came a day ahead of schedule and perfectly packed",
            "was the fastest I've ever had",
        ),
    },
    "quality": {
        "strong_neg": (
            "is complete rubbish",
            "fell apart after two days",
            "is shockingly poor",
            "broke the first time I used it",
            "feels like cheap plastic junk",
            "is nowhere near the photos",
            "is the worst I've seen in years",
        ),
        "neg": (
            "is disappointing",
            "wasn't great",
            "feels a bit flimsy",
            "is not as good as described",
            "could be a lot better",
            "started to wear after a week",
            "is below what I expected",
        ),
        "neutral": (
            "is average",
            "is okay for everyday use",
            "is decent, nothing more",
            "is what you'd expect",
            "is fine I guess",
            "is so-so",
        ),
        "pos": (
            "is good",
            "feels solid",
            "is not bad at all",
            "holds up well so far",
            "is better than I expected",
            "seems well made",
            "is nice",
        ),
        "strong_pos": (
            "is outstanding",
            "is absolutely superb",
            "feels premium in every way",
            "couldn't be better",
            "is top notch",
            "exceeded all my expectations",
            "is the best I've owned",
        ),
    },
    "price": {
        "strong_neg": (
            "is a total rip-off",
            "is outrageous for what you get",
            "was far too high",
            "is daylight robbery",
            "is absurd, not worth a fraction of it",
            "was double what it's worth",
        ),
        "neg": (
            "is a bit steep",
            "isn't really justified",
            "felt high for what it is",
            "was not worth it",
            "is on the expensive side",
            "went up right after I ordered",
        ),
        "neutral": (
            "is fair",
            "is about average",
            "is what you'd pay anywhere",
            "is reasonable, not a bargain",
            "was standard",
        ),
        "pos": (
            "is good",
            "was fair for the quality",
            "isn't bad for what you get",
            "is very reasonable",
            "was lower than elsewhere",
            "felt right",
        ),
        "strong_pos": (
            "is an absolute steal",
            "was unbeatable",
            "is incredible value",
            "couldn't be fairer",
            "was half what other shops charge",
            "makes it a no-brainer",
        ),
    },
    "service": {
        "strong_neg": (
            "was rude and useless",
            "never answered a single email",
            "is the worst I have dealt with",
            "hung up on me twice",
            "refused to refund a broken item",
            "ignored me for two weeks",
        ),
        "neg": (
            "was slow to reply",
            "wasn't very helpful",
            "took ages to sort out a simple question",
            "was not great",
            "gave me a copy-paste answer",
            "could be friendlier",
        ),
        "neutral": (
            "was polite enough",
            "answered eventually",
            "was fine",
            "did what was needed, nothing more",
            "was okay",
        ),
        "pos": (
            "was helpful",
            "replied quickly",
            "wasn't bad at all",
            "was friendly",
            "sorted my question out fast",
            "was responsive",
        ),
        "strong_pos": (
            "was fantastic",
            "went above and beyond",
            "couldn't have been more helpful",
            "fixed everything within an hour",
            "was genuinely lovely to deal with",
            "is the best I've come across",
        ),
    },
}

SENTENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "delivery": {
        "strong_neg": (
            "Waited nearly a month for this",
            "The courier left it in the rain",
            "Tracking said delivered but nothing arrived for ten days",
            "Three missed delivery slots and nobody called",
            "I gave up tracking it after two weeks",
            "It came so late I had already bought another one",
        ),
        "neg": (
            "It took longer to get here than I'd like",
            "Had to wait a bit longer than promised",
            "The box was a little battered when it came",
            "Shipping could have been quicker",
            "One item came separately, days after the rest",
            "The estimated date slipped twice",
        ),
        "neutral": (
            "It came in the expected window",
            "Got it within a week",
            "Arrived on the estimated date more or less",
            "Shipping was standard",
            "It got here when they said, give or take",
            "Nothing to say about the courier",
        ),
        "pos": (
            "Got it in a couple of days",
            "No complaints about the shipping",
            "It arrived quickly and in one piece",
            "Came sooner than the estimate",
            "Well packaged and on time",
            "The courier was on time and polite",
        ),
        "strong_pos": (
            "Ordered at night, had it in my hands the next day",
            "I was amazed how fast it got here",
            "Super speedy shipping, really impressed",
            "Same-day delivery, which I did not expect",
            "It was at my door before I even got the confirmation email",
            "Fastest shipping I have ever had from an online shop",
        ),
    },
    "quality": {
        "strong_neg": (
            "Mine stopped working within a week",
            "It looks nothing like the pictures and feels awful",
            "Honestly one of the worst things I have bought",
            "The zip broke on day one",
            "Cheap and nasty, it cracked straight away",
            "Completely useless, it doesn't even turn on",
        ),
        "neg": (
            "I expected better for the quality",
            "It doesn't feel very durable",
            "A couple of stitches were loose out of the box",
            "Not the sturdiest thing I own",
            "The colour faded after a couple of washes",
            "It wobbles a bit, not ideal",
        ),
        "neutral": (
            "It does the job",
            "Nothing to write home about, but it works",
            "It is pretty much as described",
            "It's fine for the occasional use",
            "Neither great nor terrible",
            "Average build, average feel",
        ),
        "pos": (
            "It works well",
            "It looks just like the pictures",
            "Happy with how it feels",
            "Feels sturdy in the hand",
            "Much nicer than I thought it would be",
            "No flaws that I could see",
        ),
        "strong_pos": (
            "You can tell it's really well made",
            "Beautifully made, I love it",
            "I've used it every day and it still looks brand new",
            "The craftsmanship is amazing",
            "Feels like it will last for years",
            "Honestly flawless",
        ),
    },
    "price": {
        "strong_neg": (
            "Way overpriced",
            "Found the same thing for half the price elsewhere",
            "Not worth the money at all",
            "A complete rip-off at that price",
            "Overcharged, and the shipping fee was a joke",
            "I feel cheated by the price",
        ),
        "neg": (
            "A little pricey",
            "Could be cheaper",
            "I wouldn't pay full price for it again",
            "Bit expensive for what it is",
            "There are cheaper options out there",
            "Not cheap, and it shows nowhere",
        ),
        "neutral": (
            "You get what you pay for",
            "Price is in line with other shops",
            "Paid the normal price",
            "Normal price for this kind of thing",
            "Neither cheap nor expensive",
            "The price was as listed",
        ),
        "pos": (
            "Good value",
            "Worth the money",
            "Got it on sale, which was nice",
            "Reasonably priced",
            "Fair price for the quality",
            "Didn't break the bank",
        ),
        "strong_pos": (
            "Amazing value for money",
            "Cheaper than anywhere else I looked",
            "For this price it's a bargain",
            "Can't believe how cheap it was",
            "Crazy good deal",
            "Worth every single penny",
        ),
    },
    "service": {
        "strong_neg": (
            "Nobody replies to emails",
            "Support was a nightmare",
            "Still waiting for my refund after a month",
            "Their chat bot is all you get, no humans",
            "I was promised a call back that never came",
            "They blamed me for their own mistake",
        ),
        "neg": (
            "It took three emails to get an answer",
            "Support wasn't much help",
            "The return process was confusing",
            "Getting hold of someone was hard",
            "The chat kept disconnecting",
            "They were not very clear about the return policy",
        ),
        "neutral": (
            "Didn't need to contact support much",
            "Had one question and it got answered",
            "The return was processed in the normal time",
            "Standard customer service",
            "Support did the minimum",
            "Got an automatic reply, then a real one the next day",
        ),
        "pos": (
            "They answered my question the same day",
            "Returns were easy",
            "Staff were friendly on the phone",
            "Nice people to deal with",
            "Quick answers in the chat",
            "They kept me updated the whole time",
        ),
        "strong_pos": (
            "Best customer service I've had online",
            "They even called to check everything was fine",
            "They replaced it without any questions",
            "The support agent was an absolute star",
            "Brilliant service from start to finish",
            "They sent a free replacement the same day",
        ),
    },
}

OPENERS: dict[str, tuple[str, ...]] = {
    "strong_neg": (
        "Terrible",
        "Total waste of money",
        "Very disappointed",
        "Avoid",
        "What a letdown",
        "Do not buy",
        "Awful experience",
        "One star is too many",
        "Save your money",
    ),
    "neg": (
        "Not great",
        "Not impressed",
        "Meh, expected more",
        "A bit disappointing",
        "Not what I hoped for",
        "Could be better",
        "Underwhelming",
        "Slightly regret this one",
    ),
    "neutral": (
        "It's okay",
        "Mixed feelings",
        "Average",
        "Not bad, not great",
        "Decent enough",
        "Hmm",
        "So-so",
        "Fine I suppose",
        "Three stars feels right",
    ),
    "pos": (
        "Pretty happy",
        "Good purchase",
        "Happy with it",
        "Nice",
        "Can't complain",
        "Does what it says",
        "Pleased overall",
        "Solid buy",
        "Quite good actually",
    ),
    "strong_pos": (
        "Love it",
        "Absolutely brilliant",
        "Five stars",
        "Couldn't be happier",
        "Perfect",
        "Wow",
        "Fantastic",
        "Ten out of ten",
        "Really delighted",
    ),
}

CLOSERS: dict[str, tuple[str, ...]] = {
    "strong_neg": (
        "Never again",
        "Would not recommend to anyone",
        "Returning it",
        "Stay away from this shop",
        "Asked for my money back",
        "Deleting my account",
        "Lesson learned",
    ),
    "neg": (
        "Probably won't order again",
        "Not sure I'd buy here again",
        "Think twice before ordering",
        "Wouldn't really recommend",
        "Might look elsewhere next time",
        "Two stars from me",
        "Expected better from this shop",
    ),
    "neutral": (
        "We'll see how it holds up",
        "Might order again",
        "It is what it is",
        "Will update after a month",
        "Three stars",
        "Okay for the price",
        "No strong feelings either way",
    ),
    "pos": (
        "Would buy again",
        "Would recommend",
        "I'll be back",
        "Not a bad shop at all",
        "Four stars from me",
        "Happy customer",
        "Recommended",
    ),
    "strong_pos": (
        "Will definitely order again",
        "Highly recommend",
        "Already ordered another one",
        "Can't recommend it enough",
        "My new favourite shop",
        "Ten stars if I could",
        "Telling all my friends",
    ),
}

FILLERS: tuple[str, ...] = (
    "Bought it as a gift for my sister",
    "Ordered it for my dad's birthday",
    "This is my second order from this shop",
    "Picked it up during the spring sale",
    "I needed a replacement for my old one",
    "First time ordering here",
    "Got this after reading a few reviews",
    "I use it mostly at the weekends",
    "My partner chose the colour",
    "Ordered two, kept one",
    "Saw it recommended on a forum",
    "Paid with a voucher",
    "Second purchase this month",
    "My daughter picked this one",
    "Needed it for a trip",
    "Bought it on a whim",
    "Replacing a broken one from another brand",
    "Ordered late on a Sunday",
    "Went for the bigger size",
    "It was on my wishlist for ages",
)

#: (pattern, replacement) pairs applied to random subsets of reviews as noise.
TYPOS: tuple[tuple[str, str], ...] = (
    (r"\breceived\b", "recieved"),
    (r"\bdefinitely\b", "definately"),
    (r"\bquality\b", "qualty"),
    (r"\bthe\b", "teh"),
    (r"\breally\b", "realy"),
    (r"\barrived\b", "arived"),
    (r"\bdelivery\b", "delivry"),
    (r"\bservice\b", "servise"),
    (r"\bexpected\b", "expeted"),
    (r"\bbecause\b", "becuase"),
    (r"\bwasn't\b", "wasnt"),
    (r"\bcouldn't\b", "couldnt"),
    (r"\bdoesn't\b", "doesnt"),
    (r"\bI'd\b", "id"),
    (r"\bprice\b", "pirce"),
    (r"\bcustomer\b", "costumer"),
    (r"ll", "l"),
    (r"ss", "s"),
)


class _Bank:
    """Flattened phrase table: ``phrases[start[k] + j]`` for j < count[k]."""

    def __init__(self, groups: list[tuple[str, ...]]) -> None:
        counts = np.array([len(g) for g in groups], dtype=np.int64)
        if (counts == 0).any():
            raise ValueError("empty phrase group")
        self.count = counts
        self.start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        flat = [p for g in groups for p in g]
        self.cap = np.array([_cap(p) for p in flat], dtype=object)
        self.low = np.array([_low(p) for p in flat], dtype=object)

    def pick(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Index of a uniformly chosen phrase of each requested group (``u`` uniform)."""
        return self.start[group] + np.minimum(
            (u * self.count[group]).astype(np.int64), self.count[group] - 1
        )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _low(text: str) -> str:
    # Keep "I ..." and "It ..." sentence-initial pronoun I capitalised.
    if text.startswith("I ") or text.startswith("I'"):
        return text
    return text[:1].lower() + text[1:]


_ASPECT_SUBJECTS = _Bank([SUBJECTS[a] for a in ASPECTS])
_ASPECT_PREDICATES = _Bank([PREDICATES[a][lv] for a in ASPECTS for lv in LEVELS])
_ASPECT_SENTENCES = _Bank([SENTENCES[a][lv] for a in ASPECTS for lv in LEVELS])
_OPENERS = _Bank([OPENERS[lv] for lv in LEVELS])
_CLOSERS = _Bank([CLOSERS[lv] for lv in LEVELS])
_FILLERS = _Bank([FILLERS])


def phrase_bank_size() -> int:
    """Number of distinct phrases (subjects, predicates, sentences, openers, ...)."""
    banks = (_ASPECT_SUBJECTS, _ASPECT_PREDICATES, _ASPECT_SENTENCES, _OPENERS, _CLOSERS)
    return int(sum(len(b.cap) for b in banks) + len(_FILLERS.cap))


def to_level(x: np.ndarray, cuts: tuple[float, float, float, float]) -> np.ndarray:
    """Map a continuous sentiment to the five polarity levels 0..4 by four cut points."""
    return np.searchsorted(np.asarray(cuts), x).astype(np.int64)


#: Sign (-1, 0, +1) of each polarity level 0..4.
_SIGN_OF_LEVEL = np.array([-1, -1, 0, 1, 1])


def compose_reviews(
    aspect_level: np.ndarray,
    aspect_mentioned: np.ndarray,
    overall_level: np.ndarray,
    rng: np.random.Generator,
    p_opener: float = 0.6,
    p_filler: float = 0.25,
    p_closer: float = 0.45,
    p_contrast: float = 0.7,
    p_noise: float = 0.2,
) -> np.ndarray:
    """Compose review texts, vectorised.

    Parameters
    ----------
    aspect_level : int array (n, 4)
        Polarity level 0..4 of each aspect in :data:`ASPECTS` order.
    aspect_mentioned : bool array (n, 4)
        Which aspects the review talks about (at least one per row is recommended).
    overall_level : int array (n,)
        Polarity level 0..4 of the overall tone (opener and closer).
    rng : numpy Generator
    p_opener, p_filler, p_closer : float
        Probabilities that each optional piece is present.
    p_contrast : float
        Probability that a change of sign between consecutive pieces is joined by a
        contrast ("..., but ...") rather than a full stop.
    p_noise : float
        Share of reviews that receive typos / casing noise.

    Returns
    -------
    object array (n,) of non-empty strings.
    """
    n = len(overall_level)
    overall_sign = _SIGN_OF_LEVEL[overall_level]
    pieces = _Pieces()
    pieces.add_phrase(
        _OPENERS.pick(overall_level, rng.random(n)),
        _OPENERS,
        rng.random(n) < p_opener,
        overall_sign,
    )
    pieces.add_phrase(
        _FILLERS.pick(np.zeros(n, dtype=np.int64), rng.random(n)),
        _FILLERS,
        rng.random(n) < p_filler,
        np.zeros(n, dtype=np.int64),
    )
    _add_aspect_pieces(pieces, aspect_level, aspect_mentioned, rng, n)
    pieces.add_phrase(
        _CLOSERS.pick(overall_level, rng.random(n)),
        _CLOSERS,
        rng.random(n) < p_closer,
        overall_sign,
    )
    text = pieces.join(rng, p_contrast)
    end = np.where(
        (overall_level == 4) & (rng.random(n) < 0.5),
        "!",
        np.where((overall_level == 0) & (rng.random(n) < 0.3), "!!", "."),
    ).astype(object)
    text = text + end
    return _add_noise(text, rng, p_noise)


class _Pieces:
    """The candidate pieces of ``n`` reviews, in text order: each piece has a capitalised
    and a lower-case form, a presence mask and a sign per review."""

    def __init__(self) -> None:
        self.cap: list[np.ndarray] = []
        self.low: list[np.ndarray] = []
        self.present: list[np.ndarray] = []
        self.signs: list[np.ndarray] = []

    def add(self, cap: np.ndarray, low: np.ndarray, mask: np.ndarray, sign: np.ndarray) -> None:
        self.cap.append(cap)
        self.low.append(low)
        self.present.append(mask)
        self.signs.append(sign)

    def add_phrase(self, idx: np.ndarray, bank: _Bank, mask: np.ndarray, sign: np.ndarray) -> None:
        """A piece made of the phrases ``idx`` of ``bank``."""
        self.add(bank.cap[idx], bank.low[idx], mask, sign)

    def join(self, rng: np.random.Generator, p_contrast: float) -> np.ndarray:
        """The present pieces of each review joined by full stops, or by ", but" (with
        probability ``p_contrast``) where the sign changes; no end punctuation."""
        n = len(self.present[0])
        text = np.full(n, "", dtype=object)
        started = np.zeros(n, dtype=bool)
        prev_sign = np.zeros(n, dtype=np.int64)
        for cap, low, mask, sign in zip(self.cap, self.low, self.present, self.signs, strict=True):
            contrast = started & (sign * prev_sign < 0) & (rng.random(n) < p_contrast)
            sep = np.where(started, np.where(contrast, ", but ", ". "), "").astype(object)
            piece = np.where(contrast, low, cap)
            text = np.where(mask, text + sep + piece, text)
            prev_sign = np.where(mask, sign, prev_sign)
            started |= mask
        empty = ~started
        if empty.any():  # a review with no piece at all gets its opener
            text[empty] = self.cap[0][empty]
        return text


def _add_aspect_pieces(
    pieces: _Pieces,
    aspect_level: np.ndarray,
    aspect_mentioned: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> None:
    """Aspect sentences in a random order per review (one piece per slot)."""
    n_asp = len(ASPECTS)
    order = np.argsort(rng.random((n, n_asp)), axis=1)
    rows = np.arange(n)
    for slot in range(n_asp):
        a = order[:, slot]
        level = aspect_level[rows, a]
        group = a * len(LEVELS) + level
        use_sentence = rng.random(n) < 0.3
        subj = _ASPECT_SUBJECTS.pick(a, rng.random(n))
        pred = _ASPECT_PREDICATES.pick(group, rng.random(n))
        sent = _ASPECT_SENTENCES.pick(group, rng.random(n))
        cap = np.where(
            use_sentence,
            _ASPECT_SENTENCES.cap[sent],
            _ASPECT_SUBJECTS.cap[subj] + " " + _ASPECT_PREDICATES.low[pred],
        )
        low = np.where(
            use_sentence,
            _ASPECT_SENTENCES.low[sent],
            _ASPECT_SUBJECTS.low[subj] + " " + _ASPECT_PREDICATES.low[pred],
        )
        pieces.add(cap, low, aspect_mentioned[rows, a], _SIGN_OF_LEVEL[level])


def _add_noise(text: np.ndarray, rng: np.random.Generator, p_noise: float) -> np.ndarray:
    n = len(text)
    s = pd.Series(text, dtype=str)
    noisy = rng.random(n) < p_noise
    for pattern, repl in TYPOS:
        hit = noisy & (rng.random(n) < 0.35)
        if hit.any():
            s[hit] = s[hit].str.replace(pattern, repl, regex=True)
    lower = noisy & (rng.random(n) < 0.3)
    if lower.any():
        s[lower] = s[lower].str.lower()
    shout = noisy & (rng.random(n) < 0.1)
    if shout.any():
        s[shout] = s[shout].str.upper()
    bangs = noisy & (rng.random(n) < 0.15)
    if bangs.any():
        s[bangs] = s[bangs].str.replace(r"[.!]+$", "!!!", regex=True)
    nodot = noisy & (rng.random(n) < 0.25)
    if nodot.any():
        s[nodot] = s[nodot].str.replace(r"\.$", "", regex=True)
    return s.to_numpy(dtype=object)
