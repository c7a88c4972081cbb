"""Regenerate the sample data sets (seeded: the files are reproducible byte for byte).

    python sample_data/make_sample_data.py
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).parent
rng = np.random.default_rng(20261125)


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    table = pa.table({k: np.round(v, 6) if v.dtype.kind == "f" else v for k, v in columns.items()})
    pacsv.write_csv(table, path)


# Regression: house prices (in 100k) with a model's predictions and per-row weights.
n = 200
size = rng.uniform(40, 220, n)
price = 0.9 + 0.021 * size + rng.normal(0, 0.35, n)
predicted = 0.7 + 0.0225 * size + rng.normal(0, 0.25, n)
weight = np.round(rng.choice([0.5, 1.0, 2.0], n, p=[0.2, 0.6, 0.2]), 1)
write_csv(HERE / "regression.csv", {"y_true": price, "y_pred": predicted, "weight": weight})
np.save(HERE / "regression_true.npy", np.round(price, 6))
np.save(HERE / "regression_pred.npy", np.round(predicted, 6))
np.save(HERE / "regression_weight.npy", weight)

# Binary classification: labels, the model's logits and probabilities.
n = 500
label = rng.integers(0, 2, n)
logit = np.round(1.6 * (2 * label - 1) + rng.normal(0, 1.5, n), 6)
prob = np.round(1 / (1 + np.exp(-logit)), 6)
binary = {"label": label, "logit": logit, "prob": prob}
write_csv(HERE / "binary.csv", binary)
pq.write_table(pa.table(binary), HERE / "binary.parquet")

# Multiclass (4 classes): integer labels, probability columns prob_0..prob_3,
# one-hot columns onehot_0..onehot_3; in Parquet also as list columns.
n, k = 300, 4
label = rng.integers(0, k, n)
logits = rng.normal(0, 1, (n, k)) + 2.0 * np.eye(k)[label]
probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
probs = np.round(probs, 6)
probs[:, -1] = np.round(1 - probs[:, :-1].sum(axis=1), 6)
onehot = np.eye(k)[label]
columns = {"label": label}
columns.update({f"prob_{j}": probs[:, j] for j in range(k)})
columns.update({f"onehot_{j}": onehot[:, j].astype(np.int64) for j in range(k)})
write_csv(HERE / "multiclass.csv", columns)
pq.write_table(
    pa.table(
        {
            "label": label,
            "probs": pa.array(list(probs), type=pa.list_(pa.float64(), k)),
            "onehot": pa.array(list(onehot), type=pa.list_(pa.float64(), k)),
            "logits": pa.array(list(np.round(logits, 6)), type=pa.list_(pa.float64(), k)),
        }
    ),
    HERE / "multiclass.parquet",
)
np.save(HERE / "multiclass_labels.npy", label)
np.save(HERE / "multiclass_probs.npy", probs)

# Metric learning: 60 L2-normalised embeddings of 3 identities (for circle).
n, d = 60, 8
ids = rng.integers(0, 3, n)
centres = rng.normal(0, 1, (3, d))
emb = centres[ids] + rng.normal(0, 0.6, (n, d))
emb /= np.linalg.norm(emb, axis=1, keepdims=True)
np.savez(HERE / "embeddings.npz", labels=ids, embeddings=np.round(emb, 6))

# Sequences (for ctc): 8 label sequences of up to 5 symbols (1..5, 0-padded)
# and logits over 20 time steps and 6 classes (class 0 is the blank).
n, steps, classes, max_len = 8, 20, 6, 5
lengths = rng.integers(2, max_len + 1, n)
labels = rng.integers(1, classes, (n, max_len))
labels[np.arange(max_len) >= lengths[:, None]] = 0
seq_logits = rng.normal(0, 1, (n, steps, classes))
np.savez(HERE / "sequences.npz", labels=labels, logits=np.round(seq_logits, 6))

# The previous binary model's logits for the same 500 samples (a baseline): a little worse.
binary_label = np.asarray(binary["label"])
previous = np.round(1.4 * (2 * binary_label - 1) + rng.normal(0, 1.6, binary_label.size), 6)
pq.write_table(pa.table({"logit": previous}), HERE / "binary_previous.parquet")
