"""Compose the starter corpus (composed-<language>.csv beside this file) from hand-written parts.

    .venv/bin/python classifier/corpus/compose.py [--seed 12] [--per-language 340]

Every sentence comes from parts/<language>.txt, written for deskbot (no shared data is used). A part
file holds pools (`[greeting.formal]`, `[impact.high]`, `[slot.app]` ...) and scenarios:

    == technical crash-after-update high,medium
    S subject line (one is chosen)
    P the problem, as the customer first states it (one is chosen); "P subject | problem" gives it its
      own subject lines, used most of the time; S lines fit every P of the scenario
    D a detail (none to three are chosen, in any order)
    A what the customer asks for (one is chosen)

`{slot}` is replaced by a line of the pool `[slot.slot]` (of the language, else of common.txt); {me},
{mycompany} and {myrole} are the sender's, the same throughout one ticket. A ticket
is one scenario written up the way mail arrives: with or without greeting, pleasantries, the sender's
introduction, impact, thanks, a signature, a phone footer, a quoted earlier reply, a Re:/AW: subject;
short mobile notes and long formal letters. Commit the CSV files this writes: the model is built from them.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script from anywhere

from classifier.predictor import NOT_A_REQUEST  # noqa: E402

LANGUAGES = ("en", "de", "es", "fr", "pt")
# Tickets per department in each language: a support desk of a software and hardware business hears
# of technical trouble most, then of the rest alike.
DEPARTMENT_SHARE = {"technical": 0.30, "billing": 0.14, "account": 0.14, "orders": 0.14, "sales": 0.13,
                    "general": 0.15}
SEED, PER_LANGUAGE = 12, 340
# How often a ticket says how much it matters: urgent senders mostly say so, patient ones often, the rest less.
IMPACT_CHANCE = {"high": 0.8, "medium": 0.45, "low": 0.6}
BACKGROUND_SHARE = 0.25  # of the support tickets: advertising, newsletters and spam, as NOT_A_REQUEST
SLOT = re.compile(r"\{(\w+)\}")


@dataclass
class Scenario:
    """One reason to write to support, in one language, with its labels."""

    department: str
    name: str
    priorities: list[str]
    lines: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def read_parts(path: Path) -> tuple[dict[str, list[str]], list[Scenario]]:
    """Pools and scenarios of one part file."""
    pools: dict[str, list[str]] = defaultdict(list)
    scenarios: list[Scenario] = []
    pool: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("=="):
            department, name, priorities = line[2:].split()
            scenarios.append(Scenario(department, name, priorities.split(",")))
            pool = None
        elif line.startswith("[") and line.endswith("]"):
            pool = line[1:-1]
        elif pool is not None:
            pools[pool].append(line.replace("\\n", "\n"))
        elif scenarios and line[:2] in ("S ", "P ", "D ", "A "):
            scenarios[-1].lines[line[0]].append(line[2:].replace("\\n", "\n"))
        else:
            raise SystemExit(f"{path}:{number}: neither a pool line nor a scenario line: {raw!r}")
    return pools, scenarios


class Writer:
    """Writes tickets of one language from its pools and scenarios."""

    def __init__(self, pools: dict[str, list[str]], common: dict[str, list[str]], rng: random.Random) -> None:
        self.pools, self.common, self.rng = pools, common, rng
        self.sender: dict[str, str] = {}

    def pick(self, pool: str) -> str:
        """A line of `pool`, its slots filled."""
        lines = self.pools.get(pool) or self.common.get(pool)
        if not lines:
            raise SystemExit(f"no pool [{pool}]")
        return self.fill(self.rng.choice(lines))

    def fill(self, text: str) -> str:
        """Replace each {slot} by a line of [slot.<slot>] (slots may hold slots)."""
        for key, value in self.sender.items():
            text = text.replace("{" + key + "}", value)
        for _ in range(3):
            text = SLOT.sub(lambda m: self.rng.choice(self.pools.get(f"slot.{m[1]}") or self.common[f"slot.{m[1]}"]),
                            text)
        return text

    def maybe(self, chance: float, pool: str) -> list[str]:
        """A line of `pool` with probability `chance`, else nothing."""
        return [self.pick(pool)] if self.rng.random() < chance and (pool in self.pools or pool in self.common) else []

    def subject(self, scenario: Scenario, own: str, priority: str, reply: bool) -> str:
        """The subject line: mostly the problem's own, else the scenario's; sometimes empty, urgent, a reply's."""
        if self.rng.random() < 0.07:
            return ""
        generic = scenario.lines["S"]
        subject = self.fill(own if own and (not generic or self.rng.random() < 0.7) else self.rng.choice(generic))
        if self.rng.random() < 0.15:
            subject = subject.lower()
        if priority == "high" and self.rng.random() < 0.25:
            subject = f"{self.pick('subject.urgent')} {subject}"
        if reply:
            subject = f"{self.pick('subject.reply')} {subject}"
        return subject

    def core(self, scenario: Scenario, priority: str) -> tuple[str, list[str]]:
        """The problem's own subject (or ""), and what the customer has to say: problem, details, impact, request."""
        own, _, problem = self.rng.choice(scenario.lines["P"]).rpartition(" | ")
        details = list(dict.fromkeys(self.fill(d) for d in scenario.lines["D"]))
        self.rng.shuffle(details)
        said = [self.fill(problem), *details[:self.rng.choice((0, 1, 1, 2, 2, 3))]]
        said += self.maybe(IMPACT_CHANCE[priority], f"impact.{priority}")
        said.append(self.fill(self.rng.choice(scenario.lines["A"])))
        return own, said

    def ticket(self, scenario: Scenario, priority: str) -> tuple[str, str]:
        """Subject and body of one ticket."""
        style = self.rng.choices(("note", "plain", "formal"), weights=(0.2, 0.4, 0.4))[0]
        reply = self.rng.random() < 0.12
        self.sender = {}
        self.sender = {"me": self.pick("slot.name"), "mycompany": self.pick("slot.company"),
                       "myrole": self.pick("slot.role")}
        own, core = self.core(scenario, priority)
        if style == "note":  # a quick line from a phone or between meetings
            body = " ".join(core[:1] + core[-1:]) + "\n" + "".join(self.maybe(0.5, "signoff.short"))
            body += "".join("\n\n" + m for m in self.maybe(0.3, "mobile"))
            return self.subject(scenario, own, priority, reply), body.strip()
        register = "formal" if style == "formal" else "informal"
        head = [self.pick(f"greeting.{register}")]
        head += self.maybe(0.5 if style == "formal" else 0.1, "opener")
        head += self.maybe(0.35 if style == "formal" else 0.1, "intro")
        paragraphs = self._paragraphs(core)
        tail = self.maybe(0.6, "thanks") + [self.pick(f"closing.{register}") + "\n" + self.signature(style)]
        body = "\n\n".join([head[0], " ".join(head[1:] + paragraphs[:1]).strip(), *paragraphs[1:], *tail])
        body += "".join("\n\n" + m for m in self.maybe(0.05, "mobile"))
        if reply:
            body += "\n\n" + self.quote()
        return self.subject(scenario, own, priority, reply), body

    def background(self) -> tuple[str, str]:
        """Subject and body of a mail that asks support nothing: an advert, a newsletter, spam, or word salad."""
        if self.rng.random() < 0.25:  # words without a request: test mail, a pocket dial, a scrambled paste
            words = " ".join(self.pools["bg.words"]).split()
            return "", " ".join(self.rng.choices(words, k=self.rng.randint(3, 40)))
        subject = self.pick("bg.subject") if self.rng.random() < 0.8 else ""
        lines = self.maybe(0.6, "bg.opening")
        lines += self.rng.sample(self.pools["bg.body"], self.rng.choice((1, 2, 2, 3)))
        lines += self.maybe(0.7, "bg.closing") + self.maybe(0.7, "bg.footer")
        return subject, "\n\n".join(lines)

    def _paragraphs(self, sentences: list[str]) -> list[str]:
        """Sentences grouped into one to three paragraphs."""
        cuts = sorted(self.rng.sample(range(1, len(sentences)), min(len(sentences) - 1, self.rng.choice((0, 1, 2)))))
        bounds = [0, *cuts, len(sentences)]
        return [" ".join(sentences[a:b]) for a, b in zip(bounds, bounds[1:])]

    def signature(self, style: str) -> str:
        """The sender's name, and in formal mail often role, company and phone."""
        lines = [self.sender["me"]]
        if style == "formal" or self.rng.random() < 0.2:
            lines += [self.sender[key] for key, chance in (("myrole", 0.5), ("mycompany", 0.6))
                      if self.rng.random() < chance] + self.maybe(0.3, "phone")
        return "\n".join(lines)

    def quote(self) -> str:
        """An earlier reply from support, quoted below the new message as mail clients do."""
        quoted = self.pick("quote.body").split("\n")
        marker = self.rng.choice(("> ", ">", ""))
        return self.pick("quote.header") + "\n" + "\n".join(f"{marker}{line}".rstrip() for line in quoted)


def compose(language: str, count: int, seed: int) -> list[dict[str, str]]:
    """`count` tickets in `language`, departments in DEPARTMENT_SHARE proportions."""
    common, _ = read_parts(HERE / "parts" / "common.txt")
    pools, scenarios = read_parts(HERE / "parts" / f"{language}.txt")
    rng = random.Random(f"{seed}-{language}")
    writer = Writer(pools, common, rng)
    by_department: dict[str, list[Scenario]] = defaultdict(list)
    for scenario in scenarios:
        by_department[scenario.department].append(scenario)
    rows = []
    for department, share in DEPARTMENT_SHARE.items():
        for i in range(round(count * share)):
            # each scenario in turn, so none is left out; then as the dice fall
            group = by_department[department]
            scenario = group[i] if i < len(group) else rng.choice(group)
            priority = rng.choice(scenario.priorities)
            subject, body = writer.ticket(scenario, priority)
            rows.append({"language": language, "department": department, "priority": priority, "subject": subject,
                         "body": body, "scenario": f"{language}:{scenario.department}:{scenario.name}"})
    for _ in range(round(count * BACKGROUND_SHARE)):
        subject, body = writer.background()
        rows.append({"language": language, "department": NOT_A_REQUEST, "priority": "low", "subject": subject,
                     "body": body, "scenario": f"{language}:background"})
    rng.shuffle(rows)
    return rows


def main() -> None:
    """Write composed-<language>.csv for every language that has a part file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--per-language", type=int, default=PER_LANGUAGE)
    args = parser.parse_args()
    for language in LANGUAGES:
        if not (HERE / "parts" / f"{language}.txt").exists():
            continue
        rows = compose(language, args.per_language, args.seed)
        with (HERE / f"composed-{language}.csv").open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"composed-{language}.csv: {len(rows)} tickets")


if __name__ == "__main__":
    main()
