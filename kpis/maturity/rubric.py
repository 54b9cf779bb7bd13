"""The maturity rubric: practices, level names, what each level looks like, and the target per practice."""

from __future__ import annotations

from dataclasses import dataclass

from kpis.config import PRACTICES, AppConfig

LEVELS = (1, 2, 3, 4, 5)
NO_CONSENSUS_SPREAD = 2  # max − min of the answers at or above this: respondents disagree


@dataclass(frozen=True)
class Rubric:
    """Level names, per-practice level texts and targets, as configured."""

    levels: tuple[str, ...]
    texts: dict[str, tuple[str, ...]]
    targets: dict[str, int]

    @property
    def practices(self) -> list[str]:
        """Practice ids in their fixed order."""
        return list(PRACTICES)

    def level_name(self, level: int) -> str:
        """'3 · Integrated'."""
        return f"{level} · {self.levels[level - 1]}"

    def text(self, practice: str, level: int) -> str:
        """What the level looks like for the practice ('' when the config has no rubric text)."""
        texts = self.texts.get(practice)
        return texts[level - 1] if texts else ""

    def target(self, practice: str) -> int | None:
        """The configured target level, or None."""
        return self.targets.get(practice)


def rubric(config: AppConfig) -> Rubric:
    """The rubric from a validated config."""
    m = config.maturity
    return Rubric(levels=tuple(m.levels), texts={p: tuple(t) for p, t in m.rubric.items()}, targets=dict(m.targets))


def practice_name(practice: str) -> str:
    """The practice's full name; 'Overall index' for the overall row."""
    return "Overall index" if practice == "overall" else PRACTICES.get(practice, practice)


def short_name(practice: str) -> str:
    """A short label for charts: the practice's first words."""
    names = {
        "collaboration": "Collaboration",
        "alignment": "Objectives & metrics",
        "data": "Data",
        "technology": "Technology",
        "process": "Process",
        "change": "Change & training",
        "improvement": "Improvement culture",
        "sponsorship": "Executive sponsorship",
        "partners": "External partners",
        "evaluation": "Performance evaluation",
        "overall": "Overall index",
    }
    return names.get(practice, practice)
