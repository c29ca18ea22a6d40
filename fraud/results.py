"""What the fraud engine returns: the score, the rules that fired with their sentences, and the network facts;
stored on the order as JSON and read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fraud.geoip import GeoIPFacts, IPFacts

RESULT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class FiredRule:
    code: str
    points: int
    sentence: str


@dataclass(frozen=True)
class FraudResult:
    score: int
    threshold: int
    rules: tuple[FiredRule, ...]
    ip: IPFacts
    geoip: GeoIPFacts
    warnings: tuple[str, ...] = ()
    skipped_reason: str = ""  # set when a "skip the check" setting applied; nothing was scored

    @property
    def is_fraud(self) -> bool:
        return not self.skipped_reason and self.score >= self.threshold

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict for a JSONField; `FraudResult.from_json` reads it back."""
        return {
            "version": RESULT_FORMAT_VERSION,
            "score": self.score,
            "threshold": self.threshold,
            "is_fraud": self.is_fraud,
            "skipped_reason": self.skipped_reason,
            "rules": [{"code": r.code, "points": r.points, "sentence": r.sentence} for r in self.rules],
            "ip": self.ip.to_json(),
            "geoip": self.geoip.to_json(),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FraudResult:
        return cls(
            score=data["score"],
            threshold=data["threshold"],
            rules=tuple(FiredRule(**rule) for rule in data.get("rules", ())),
            ip=IPFacts.from_json(data.get("ip", {"raw": None})),
            geoip=GeoIPFacts.from_json(data.get("geoip", {})),
            warnings=tuple(data.get("warnings", ())),
            skipped_reason=data.get("skipped_reason", ""),
        )
