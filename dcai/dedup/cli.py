"""``dcai dedup --run RUN [--against EARLIER_RUN]``: exact and near duplicates, groups, leakage across splits."""

from __future__ import annotations

import argparse

from dcai.dedup.config import DedupConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--against",
        metavar="RUN",
        help="also match against a finished run's stored sketches (its NN-dedup/signatures.parquet); "
        "new copies of its images are removed",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="near-duplicate acceptance in (0, 1] (default 0.95)"
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"threshold": args.threshold}, {"against": args.against})


def summary(report: dict) -> str:
    """What ``dcai dedup`` prints: counts, then the leakage table (groups that straddle splits)."""
    k = report["groups_by_kind"]
    lines = [
        f"{report['images']} images: {report['groups']} duplicate groups "
        f"({k['exact_bytes']} byte-identical, {k['exact_pixels']} pixel-identical, {k['near']} near), "
        f"{report['in_groups']} images in groups, {report['removed']} removed, "
        f"{report['conflict_groups']} groups with conflicting labels flagged for review",
        f"{report['candidate_pairs']} candidate pairs, {report['verified_pairs']} verified; "
        f"{report['images_per_second']} images/s ({report['timings']})",
    ]
    leak = report["leakage"]
    lines.append(f"leakage: {leak['groups']} groups straddle splits {leak['by_splits']}")
    if leak["listed"]:
        lines.append(f"{'group':<18} {'kind':<13} {'splits':<24} members (split/label)")
        for g in leak["listed"][:30]:
            members = ", ".join(f"{m['split']}/{m['label']}" for m in g["members"])
            lines.append(f"{g['group']:<18} {g['kind']:<13} {'+'.join(g['splits']):<24} {members}")
    return "\n".join(lines)


STAGE = Stage(
    name="dedup",
    help="exact and near duplicates, groups, leakage across splits",
    config=DedupConfig,
    run=lazy("dcai.dedup.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.dedup.report_section:render_section"),
)
