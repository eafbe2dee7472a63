"""Active learning pays: uncertainty sampling against random sampling at the same label count.

From a small seed set of scikit-learn's handwritten digits (5 per class), three
rounds each label `--per-round` more images out of an unlabelled pool, chosen
by `vrl harvest`'s own selection (models/selection.py: the same margin,
entropy and random strategies, the same deduplicated `select`); the pool's true
labels stand in for the person labelling. After each round the classifier is
retrained on everything labelled so far and scored on a held-out split it
never sees. The classifier is scikit-learn's multinomial logistic regression on
the 8x8 pixels (seconds per fit), standing in for the CNN: what is measured is
which images are worth a label, not the model. Printed: mean +- std eval
accuracy over `--seeds` seeds (each its own seed set and split) per strategy
and labels held, and each uncertainty strategy's gain over random.

    .venv/bin/python bench/active_learning.py [--per-round 30] [--rounds 3] [--seeds 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from models import selection


def _fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(max_iter=2000).fit(x, y)


def run_strategy(
    strategy: str, seed: int, seed_per_class: int, per_round: int, rounds: int
) -> list[tuple[int, float]]:
    """(labels held, eval accuracy) after the seed set and after each round."""
    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    x_pool, x_eval, y_pool, y_eval = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=seed
    )
    rng = np.random.default_rng(seed)
    labelled = np.concatenate(
        [rng.choice(np.flatnonzero(y_pool == k), seed_per_class, replace=False) for k in range(10)]
    )
    keys = [str(i) for i in range(len(x_pool))]  # one key per pool image
    out = []
    for round_no in range(rounds + 1):
        model = _fit(x_pool[labelled], y_pool[labelled])
        out.append((len(labelled), float(model.score(x_eval, y_eval))))
        if round_no == rounds:
            break
        scores = selection.informativeness(
            model.predict_proba(x_pool), strategy, seed=seed * 100 + round_no
        )
        exclude = {keys[i] for i in labelled}
        picked = selection.select(keys, scores, per_round, exclude)
        labelled = np.concatenate([labelled, picked])  # the true labels stand in for a person
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-per-class", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    results = {
        s: np.array(
            [
                [
                    acc
                    for _, acc in run_strategy(
                        s, seed, args.seed_per_class, args.per_round, args.rounds
                    )
                ]
                for seed in range(args.seeds)
            ]
        )
        for s in selection.STRATEGIES
    }
    labels = [10 * args.seed_per_class + r * args.per_round for r in range(args.rounds + 1)]
    print(f"eval accuracy (mean +- std over {args.seeds} seeds), digits, logistic regression")
    print(
        f"{'labels':>7} " + " ".join(f"{s:>15}" for s in selection.STRATEGIES) + "  margin-random"
    )
    for r, n in enumerate(labels):
        cells = " ".join(
            f"{results[s][:, r].mean():>9.4f}+-{results[s][:, r].std():.3f}"
            for s in selection.STRATEGIES
        )
        gain = results[selection.MARGIN][:, r].mean() - results[selection.RANDOM][:, r].mean()
        print(f"{n:>7} {cells}  {gain:+.4f}")


if __name__ == "__main__":
    main()
