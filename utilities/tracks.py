"""The five tracks of ShopBench: challenge id, time limit, the dev questions' track field, and the
checkpoint folder, blends and wise-ft alphas of the 1st-place recipe's two fine-tuning iterations
(docs/reference.md section 5).

One table, read by the model (which checkpoint), the local evaluator (which rows, which time limit)
and the submission tool (which ``challenge_id`` goes into ``aicrowd.json``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Track:
    number: int
    name: str
    challenge_id: str  # aicrowd.json "challenge_id"; the dev rows' "track" field holds the same id
    time_limit_s: int  # the grader's limit for the whole track
    wise_ft_alpha: float  # scale of the LoRA delta in the submitted weights (iteration 2)
    blend: str  # training blend of iteration 2
    leaderboard: float  # the 1st-place score (Team NVIDIA)
    round1_alpha: float  # wise-ft alpha of iteration 1, whose merged weights iteration 2 starts from
    round1_blend: str  # training blend of iteration 1

    @property
    def checkpoint(self) -> str:
        """The track's checkpoint folder, relative to the repo: one per wise-ft alpha."""
        return CHECKPOINTS[self.wise_ft_alpha]


# One checkpoint per alpha (tracks 2 and 4 share 0.5; tracks 3 and 5 share 0.25). The 0.25 folder
# holds the winners' published config (their "awq_average-150-192-theta-0.25").
CHECKPOINTS = {
    0.75: "models/qwen2-72b-awq-padded-alpha0.75",
    0.5: "models/qwen2-72b-awq-padded-alpha0.5",
    0.25: "models/qwen2-72b-awq-padded",
}


TRACKS: dict[int, Track] = {t.number: t for t in (
    Track(1, "understanding shopping concepts", "amazon-kdd-cup-24-understanding-shopping-concepts",
          70 * 60, 0.75, "v9b", 83.3, 0.56, "v8"),
    Track(2, "shopping knowledge reasoning", "amazon-kdd-cup-24-shopping-knowledge-reasoning",
          20 * 60, 0.5, "v7b", 79.1, 1.0, "v7"),
    Track(3, "user behavior alignment", "amazon-kdd-cup-24-user-behavior-alignment",
          30 * 60, 0.25, "v9b", 74.6, 0.56, "v8"),
    Track(4, "multi-lingual abilities", "amazon-kdd-cup-24-multi-lingual-abilities",
          20 * 60, 0.5, "v7b", 76.1, 1.0, "v7"),
    Track(5, "all-around", "amazon-kdd-cup-24-all-around",
          140 * 60, 0.25, "v9b", 78.8, 0.56, "v8"),
)}
ALL_AROUND = 5  # Track 5 holds every question; its score is the mean of Tracks 1-4


def track_of(challenge_id: str) -> Track:
    for track in TRACKS.values():
        if track.challenge_id == challenge_id:
            return track
    raise KeyError(f"unknown track id {challenge_id!r}; known: {', '.join(t.challenge_id for t in TRACKS.values())}")


def get_track(number: int) -> Track:
    try:
        return TRACKS[int(number)]
    except (KeyError, ValueError):
        raise KeyError(f"unknown track {number!r}; tracks are 1-5 (5 = all-around)") from None
