"""Writes a small, seeded, sentiment-like CSV (text,label: pos/neg) for trying the text models.

Short review sentences whose label depends on what the words mean, on negation and on
clause order, never on one keyword:
  * a polarity word (about 45 positive and 45 negative adjectives / verb phrases),
  * optionally negated ("not", "never", "was not", "hardly", "far from"), which flips it,
  * optionally an intensifier ("really", "so", "quite", ...), which does not,
  * optionally a second clause joined by "but" / "although" / "and": after "but" the second
    clause decides; after "although" the first; with "and" both clauses agree,
  * neutral subject nouns, openers and endings shared by both classes,
  * 4% of labels flipped (annotator noise), so 96% is about the ceiling.

    python scripts/make_sentiment_csv.py sentiment.csv --count 3000 --seed 7
"""

import argparse
import csv
import random

POSITIVE = [
    "good",
    "great",
    "excellent",
    "wonderful",
    "delightful",
    "superb",
    "brilliant",
    "enjoyable",
    "charming",
    "lovely",
    "pleasant",
    "fantastic",
    "impressive",
    "solid",
    "reliable",
    "satisfying",
    "beautiful",
    "clever",
    "fun",
    "memorable",
    "moving",
    "polished",
    "sturdy",
    "comfortable",
    "helpful",
    "friendly",
    "fresh",
    "tasty",
    "smooth",
    "elegant",
    "gripping",
    "funny",
    "warm",
    "generous",
    "flawless",
    "remarkable",
    "terrific",
    "worthwhile",
    "inspiring",
    "refreshing",
    "affordable",
    "spotless",
    "efficient",
    "thoughtful",
]
NEGATIVE = [
    "bad",
    "awful",
    "terrible",
    "dreadful",
    "boring",
    "dull",
    "disappointing",
    "mediocre",
    "poor",
    "weak",
    "clumsy",
    "annoying",
    "bland",
    "flimsy",
    "uncomfortable",
    "rude",
    "stale",
    "tasteless",
    "confusing",
    "sloppy",
    "ugly",
    "pointless",
    "tedious",
    "forgettable",
    "noisy",
    "overpriced",
    "broken",
    "cheap",
    "shabby",
    "slow",
    "greasy",
    "filthy",
    "unreliable",
    "frustrating",
    "predictable",
    "lifeless",
    "painful",
    "useless",
    "dirty",
    "cramped",
    "soggy",
    "careless",
    "awkward",
    "fragile",
    "inedible",
]
SUBJECTS = [
    "movie",
    "film",
    "plot",
    "acting",
    "soundtrack",
    "ending",
    "service",
    "staff",
    "food",
    "meal",
    "room",
    "hotel",
    "phone",
    "battery",
    "screen",
    "camera",
    "book",
    "story",
    "chapter",
    "product",
    "delivery",
    "packaging",
    "price",
    "waiter",
    "menu",
    "dessert",
    "coffee",
    "seat",
    "flight",
    "app",
    "update",
    "game",
    "level",
    "chair",
    "mattress",
    "jacket",
    "shoes",
    "headphones",
    "laptop",
    "keyboard",
    "concert",
    "show",
    "episode",
    "series",
]
INTENSIFIERS = ["really", "very", "so", "quite", "truly", "pretty", "rather", "extremely"]
NEGATIONS = ["not", "never", "hardly", "far from", "not at all"]
OPENERS = [
    "",
    "",
    "",
    "honestly",
    "overall",
    "to be fair",
    "i think",
    "in my opinion",
    "we felt",
    "my wife said",
    "frankly",
    "after two weeks",
]
ENDINGS = [
    "",
    "",
    "",
    "",
    "for the price",
    "this time",
    "as usual",
    "in the end",
    "for what it is",
    "compared to last year",
    "if you ask me",
]
LINKS = ["is", "was", "seemed", "felt", "looked", "turned out"]


def clause(rng: random.Random) -> tuple[str, bool]:
    """One clause and whether it is positive."""
    positive = rng.random() < 0.5
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    parts = ["the", rng.choice(SUBJECTS), rng.choice(LINKS)]
    if rng.random() < 0.4:
        parts.append(rng.choice(NEGATIONS))
        positive = not positive
    if rng.random() < 0.3:
        parts.append(rng.choice(INTENSIFIERS))
    parts.append(word)
    return " ".join(parts), positive


def sentence(rng: random.Random) -> tuple[str, bool]:
    """A sentence of one or two clauses and its label."""
    first, first_positive = clause(rng)
    link = rng.random()
    if link < 0.45:
        text, positive = first, first_positive
    elif link < 0.70:  # "A but B": B decides; the clauses disagree
        second, second_positive = clause(rng)
        while second_positive == first_positive:
            second, second_positive = clause(rng)
        text, positive = f"{first} but {second}", second_positive
    elif link < 0.85:  # "although A, B": B decides
        second, second_positive = clause(rng)
        while second_positive == first_positive:
            second, second_positive = clause(rng)
        text, positive = f"although {first} {second}", second_positive
    else:  # "A and B": they agree
        second, second_positive = clause(rng)
        while second_positive != first_positive:
            second, second_positive = clause(rng)
        text, positive = f"{first} and {second}", first_positive
    opener, ending = rng.choice(OPENERS), rng.choice(ENDINGS)
    text = " ".join(part for part in (opener, text, ending) if part)
    return text[0].upper() + text[1:] + rng.choice([".", ".", "!", "..."]), positive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noise", type=float, default=0.04)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for _ in range(args.count):
            text, positive = sentence(rng)
            if rng.random() < args.noise:
                positive = not positive
            writer.writerow([text, "pos" if positive else "neg"])


if __name__ == "__main__":
    main()
