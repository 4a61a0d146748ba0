#!/usr/bin/env python3
"""Train streamscore's example models on deterministic synthetic data and export them to ONNX.

Writes, for each model, pipelines/models/<name>/<version>/{model.onnx, manifest.yaml, golden.json}.
Each manifest carries `reference`: the per-feature training medians `streamscore explain` uses, and
`distributions`: per feature and per output, quantile bins (edges, counts) or category frequencies,
that the workers' drift monitor compares its windows with.
Every run with the pinned requirements produces byte-identical model files (fixed seeds, fixed
`created` date, no timestamps in the graph).

    .stack/venv-models/bin/python tools/models/train.py [--out pipelines/models] [--check]

--check trains into a temporary directory and fails when any model.onnx differs from the committed
one (sha256) or any manifest's `distributions` differs, so CI or a reviewer can confirm the committed
binaries and reference distributions are reproducible.

See tools/models/README.md for the ZipMap story (churn/1 keeps it, churn/2 and fraud/1 use
zipmap=False) and how workers/inference reads each form.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
import yaml
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

REPO = Path(__file__).resolve().parents[2]
CREATED = "2025-01-15"
SEED = 20250115
# Opsets every onnxruntime >= 1.15 executes; ai.onnx.ml 3 keeps TreeEnsembleClassifier/Regressor.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
INPUT_NAME = "features"
GOLDEN_ROWS = 20


# --------------------------------------------------------------------------- synthetic data


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


CHURN_FEATURES = [
    "tenure_months",
    "monthly_spend",
    "is_enterprise",
    "tickets_90d",
    "seats",
    "days_since_login",
    "plan_basic",
    "plan_pro",
]


def churn_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """B2B SaaS customers. Churn is likelier with short tenure, many support tickets and a long
    time since the last login; enterprise plans and many seats retain."""
    plan = rng.choice(3, size=n, p=[0.45, 0.35, 0.20])  # 0 basic, 1 pro, 2 enterprise
    is_enterprise = (plan == 2).astype(np.float64)
    tenure = np.clip(rng.gamma(2.0, 12.0, size=n), 0, 120).round()
    seats = np.where(plan == 2, rng.integers(20, 500, size=n), rng.integers(1, 40, size=n)).astype(np.float64)
    base_spend = np.choose(plan, [19.0, 49.0, 199.0])
    monthly_spend = (base_spend * np.sqrt(seats) * rng.lognormal(0.0, 0.15, size=n)).round(2)
    tickets = rng.poisson(np.where(tenure < 6, 2.5, 1.0))
    days_since_login = np.clip(rng.exponential(9.0, size=n), 0, 365).round()
    logit = (
        -1.2
        - 0.045 * tenure
        + 0.45 * tickets
        + 0.07 * days_since_login
        - 1.1 * is_enterprise
        - 0.004 * seats
        + 0.35 * (plan == 0)
        + rng.normal(0.0, 0.6, size=n)
    )
    y = (rng.random(n) < _sigmoid(logit)).astype(np.int64)
    x = np.column_stack(
        [tenure, monthly_spend, is_enterprise, tickets, seats, days_since_login, plan == 0, plan == 1]
    ).astype(np.float32)
    return x, y


FRAUD_FEATURES = ["amount_log", "hour", "is_foreign", "merchant_risk", "velocity_1h", "card_age_days"]


def fraud_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Card transactions. Fraud is likelier for large, foreign, night-time payments at risky
    merchants on new cards with many recent transactions."""
    amount_log = rng.normal(3.5, 1.2, size=n).clip(0, 10)
    hour = rng.integers(0, 24, size=n).astype(np.float64)
    is_foreign = (rng.random(n) < 0.12).astype(np.float64)
    merchant_risk = rng.beta(2, 8, size=n)
    velocity = rng.poisson(1.2, size=n).astype(np.float64)
    card_age = np.clip(rng.exponential(400.0, size=n), 0, 3650).round()
    night = ((hour <= 5) | (hour >= 23)).astype(np.float64)
    logit = (
        -5.0
        + 0.55 * (amount_log - 3.5)
        + 1.3 * is_foreign
        + 4.5 * merchant_risk
        + 0.45 * velocity
        + 0.9 * night
        - 0.004 * card_age
    )
    fraud = rng.random(n) < _sigmoid(logit)
    y = np.where(fraud, "fraud", "legit")
    x = np.column_stack([amount_log, hour, is_foreign, merchant_risk, velocity, card_age]).astype(np.float32)
    return x, y


LTV_FEATURES = ["tenure_months", "monthly_spend", "seats", "is_enterprise"]


def ltv_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected 24-month lifetime value in currency units."""
    tenure = np.clip(rng.gamma(2.0, 12.0, size=n), 0, 120).round()
    is_enterprise = (rng.random(n) < 0.2).astype(np.float64)
    seats = np.where(is_enterprise == 1, rng.integers(20, 500, size=n), rng.integers(1, 40, size=n))
    seats = seats.astype(np.float64)
    monthly_spend = ((49.0 + 150.0 * is_enterprise) * np.sqrt(seats) * rng.lognormal(0, 0.2, size=n)).round(2)
    retention = _sigmoid(-0.5 + 0.06 * tenure + 1.2 * is_enterprise)
    y = monthly_spend * 24.0 * retention * rng.lognormal(0.0, 0.1, size=n)
    x = np.column_stack([tenure, monthly_spend, seats, is_enterprise]).astype(np.float32)
    return x, y.astype(np.float64)


DEMAND_FEATURES = ["day_of_week", "month", "unit_price", "on_promo", "qty_last_7d", "store_size"]


def demand_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Units of one SKU a store will order over the next 7 days (ERP replenishment)."""
    dow = rng.integers(1, 8, size=n).astype(np.float64)
    month = rng.integers(1, 13, size=n).astype(np.float64)
    price = np.round(rng.lognormal(2.5, 0.5, size=n), 2)
    promo = (rng.random(n) < 0.15).astype(np.float64)
    size = rng.integers(1, 4, size=n).astype(np.float64)
    last7 = np.round(rng.gamma(3.0, 10.0 * size))
    season = 1.0 + 0.25 * np.sin((month - 3.0) / 12.0 * 2 * np.pi)
    weekend = np.where(dow >= 6, 1.15, 1.0)
    y = last7 * season * weekend * (1.0 + 0.6 * promo) * np.exp(-0.02 * (price - 12.0)) * rng.lognormal(0, 0.1, n)
    x = np.column_stack([dow, month, price, promo, last7, size]).astype(np.float32)
    return x, y.astype(np.float64)


# --------------------------------------------------------------------------- model specs


@dataclass
class Spec:
    name: str
    version: int
    features: list[str]
    data: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
    make: Callable[[], Any]
    kind: str  # "classifier" | "regressor"
    zipmap: bool
    training_data: str
    rows: int = 4000
    seed: int = SEED
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


SPECS: list[Spec] = [
    Spec(
        name="churn",
        version=1,
        features=CHURN_FEATURES,
        data=churn_data,
        make=lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED),
        kind="classifier",
        zipmap=True,
        description="Binary churn classifier; skl2onnx default export (ZipMap probabilities).",
        training_data="4000 synthetic B2B SaaS customers (numpy default_rng seed 20250115): plan mix "
        "45% basic / 35% pro / 20% enterprise; churn logit rises with tickets_90d and "
        "days_since_login, falls with tenure_months, is_enterprise and seats.",
    ),
    Spec(
        name="churn",
        version=2,
        features=CHURN_FEATURES,
        data=churn_data,
        make=lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED),
        kind="classifier",
        zipmap=False,
        description="Same model as churn/1, exported with zipmap=False (probabilities as float [N,2]).",
        training_data="Identical to churn/1 (same seed, same rows).",
    ),
    Spec(
        name="churn",
        version=3,
        features=CHURN_FEATURES,
        data=churn_data,
        make=lambda: GradientBoostingClassifier(
            n_estimators=150, max_depth=4, learning_rate=0.05, subsample=0.8, random_state=20251101
        ),
        kind="classifier",
        zipmap=False,
        rows=8000,
        seed=20251101,
        description="Churn challenger: retrained on a newer, larger sample with deeper trees "
        "(probabilities as float [N,2]). Close to churn/1, not identical: the rollout demo's candidate.",
        training_data="8000 synthetic B2B SaaS customers drawn like churn/1's but with seed 20251101.",
    ),
    Spec(
        name="fraud",
        version=1,
        features=FRAUD_FEATURES,
        data=fraud_data,
        make=lambda: GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=SEED),
        kind="classifier",
        zipmap=True,
        rows=6000,
        description="Card-fraud classifier with string classes; skl2onnx default export (ZipMap).",
        training_data="6000 synthetic card transactions (numpy default_rng seed 20250115); fraud "
        "logit rises with amount_log, is_foreign, merchant_risk, velocity_1h and night hours, "
        "falls with card_age_days.",
    ),
    Spec(
        name="ltv",
        version=1,
        features=LTV_FEATURES,
        data=ltv_data,
        make=lambda: GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=SEED),
        kind="regressor",
        zipmap=False,
        description="24-month lifetime value regressor.",
        training_data="4000 synthetic customers (numpy default_rng seed 20250115); target = "
        "monthly_spend * 24 * retention(tenure, enterprise) with lognormal noise.",
    ),
    Spec(
        name="demand",
        version=1,
        features=DEMAND_FEATURES,
        data=demand_data,
        make=lambda: GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=SEED),
        kind="regressor",
        zipmap=False,
        description="7-day demand (units) per store and SKU for ERP replenishment.",
        training_data="4000 synthetic store/SKU weeks (numpy default_rng seed 20250115); target = "
        "last 7 days' units x seasonality x weekend x promo lift x price elasticity, lognormal noise.",
    ),
]


# --------------------------------------------------------------------------- export


def _type_str(t: onnx.TypeProto) -> str:
    """ONNX type as the onnxruntime type string, e.g. tensor(float), seq(map(int64,float))."""
    which = t.WhichOneof("value")
    if which == "tensor_type":
        return f"tensor({onnx.helper.tensor_dtype_to_string(t.tensor_type.elem_type).split('.')[-1].lower()})"
    if which == "sequence_type":
        return f"seq({_type_str(t.sequence_type.elem_type)})"
    if which == "map_type":
        key = onnx.helper.tensor_dtype_to_string(t.map_type.key_type).split(".")[-1].lower()
        return f"map({key},{_type_str(t.map_type.value_type)})"
    return which or "unknown"


def _shape(t: onnx.TypeProto) -> list[Any] | None:
    if t.WhichOneof("value") != "tensor_type":
        return None
    dims: list[Any] = []
    for d in t.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else None)
    return dims


def _clean(type_name: str) -> str:
    return {
        "tensor(float32)": "tensor(float)",
        "tensor(string_)": "tensor(string)",
    }.get(type_name, type_name.replace("float32", "float"))


def export(spec: Spec, out_root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(spec.seed)
    x, y = spec.data(rng, spec.rows)
    model = spec.make()
    model.fit(x, y)

    options = None
    if spec.kind == "classifier" and not spec.zipmap:
        options = {id(model): {"zipmap": False}}
    onx = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(spec.features)]))],
        target_opset=TARGET_OPSET,
        options=options,
    )
    onx.doc_string = spec.description
    # Reproducible bytes: the graph name is derived from the estimator's id() otherwise.
    onx.graph.name = f"{spec.name}_v{spec.version}"
    meta = {
        "streamscore.name": spec.name,
        "streamscore.version": str(spec.version),
        "streamscore.features": ",".join(spec.features),
    }
    if spec.kind == "classifier":
        meta["streamscore.classes"] = json.dumps([_py(c) for c in model.classes_])
    onnx.helper.set_model_props(onx, meta)
    # skl2onnx collects opset imports in a set: order them so the bytes do not depend on PYTHONHASHSEED.
    opsets = sorted(((o.domain, o.version) for o in onx.opset_import))
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.append(onnx.helper.make_opsetid(domain, version))
    onnx.checker.check_model(onx)
    data = onx.SerializeToString(deterministic=True)

    folder = out_root / spec.name / str(spec.version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    # Golden rows: a fixed, separately seeded hold-out sample plus a few hand-picked extremes,
    # scored by onnxruntime (the same version as onnxruntime-node) on the exported bytes.
    # The hold-out rows are spread evenly over the model's score range so both classes (and
    # probabilities near 0, 0.5 and 1) appear even for the rare fraud class.
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    hold_x, _ = spec.data(np.random.default_rng(SEED + 1), 2000)
    score = model.predict_proba(hold_x)[:, 0] if spec.kind == "classifier" else model.predict(hold_x)
    order = np.argsort(score, kind="stable")
    picks = order[np.linspace(0, len(order) - 1, GOLDEN_ROWS - 2).round().astype(int)]
    lo = x.min(axis=0, keepdims=True)
    hi = x.max(axis=0, keepdims=True)
    golden_x = np.vstack([hold_x[picks], lo, hi]).astype(np.float32)
    results = sess.run(None, {INPUT_NAME: golden_x})
    output_names = [o.name for o in sess.get_outputs()]
    golden: dict[str, Any] = {
        "model": f"pipelines/models/{spec.name}/{spec.version}/model.onnx",
        "sha256": digest,
        "producer": f"onnxruntime {ort.__version__} (python)",
        "input": INPUT_NAME,
        "features": spec.features,
        "rows": [[float(v) for v in row] for row in golden_x],
    }
    if spec.kind == "classifier":
        classes = [_py(c) for c in model.classes_]
        # skl2onnx names the outputs output_label/output_probability with ZipMap and
        # label/probabilities with zipmap=False.
        label_name, proba_name = output_names
        labels = results[output_names.index(label_name)]
        probs_raw = results[output_names.index(proba_name)]
        if spec.zipmap:
            probs = [[float(m[c]) for c in classes] for m in probs_raw]
        else:
            probs = [[float(v) for v in row] for row in probs_raw]
        golden["classes"] = classes
        golden["label"] = [_py(v) for v in labels]
        golden["probabilities"] = probs
        # sklearn itself, to show the ONNX export agrees with the estimator (documentation only).
        golden["sklearn_probabilities_max_abs_diff"] = float(
            np.abs(model.predict_proba(golden_x) - np.array(probs)).max()
        )
    else:
        values = results[output_names.index("variable")]
        golden["value"] = [float(v) for v in values.reshape(-1)]
        golden["sklearn_value_max_abs_diff"] = float(np.abs(model.predict(golden_x) - values.reshape(-1)).max())
    (folder / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")

    manifest: dict[str, Any] = {
        "name": spec.name,
        "version": spec.version,
        "description": spec.description,
        "framework": {
            "library": f"scikit-learn {sklearn.__version__}",
            "estimator": f"{type(model).__name__}({_params(model)})",
            "converter": f"skl2onnx {skl2onnx.__version__}",
            # What the model imports (skl2onnx lowers each domain to the oldest opset it needs).
            "onnx_opset": {o.domain or "ai.onnx": o.version for o in onx.opset_import},
            "zipmap": spec.zipmap if spec.kind == "classifier" else None,
        },
        "created": CREATED,
        "inputs": [
            {
                "name": i.name,
                "type": _clean(_type_str(i.type)),
                "shape": _shape(i.type),
                "features": spec.features,
            }
            for i in onx.graph.input
        ],
        "outputs": [{"name": o.name, "type": _clean(_type_str(o.type))} for o in onx.graph.output],
        "classes": [_py(c) for c in model.classes_] if spec.kind == "classifier" else None,
        "training_data": {"rows": spec.rows, "seed": SEED, "description": spec.training_data},
        # Per-feature training medians: `streamscore explain` replaces one feature at a time by its
        # reference value to attribute a score (workers/audit/explain.ts).
        "reference": reference_values(spec.features, x),
        # Per-feature and per-output reference distributions: the workers' drift monitor compares
        # each window with them (workers/drift/). Not covered by sha256 (which is model.onnx's):
        # `--check` regenerates and compares them too.
        "distributions": distributions(spec, x, model, sess),
        "sha256": digest,
        "size_bytes": len(data),
    }
    with (folder / "manifest.yaml").open("w") as f:
        f.write("# Generated by tools/models/train.py; do not edit by hand.\n")
        yaml.safe_dump(manifest, f, sort_keys=False, width=100)
    return {"path": str(folder / "model.onnx"), "sha256": digest, "bytes": len(data)}


DRIFT_BINS = 10
# A feature with at most this many distinct training values, each at least MIN_CATEGORY_SHARE of
# the rows, is categorical (value frequencies); any other gets quantile bins.
MAX_CATEGORIES = 12
MIN_CATEGORY_SHARE = 0.01
# Outputs are described on a fresh sample of the generator, not on the training rows: a model's
# scores on its own training rows are sharper than on new rows from the same population.
OUTPUT_SAMPLE_SEED = SEED + 2


def distributions(spec: Spec, x: np.ndarray, model: Any, sess: ort.InferenceSession) -> dict[str, Any]:
    """Reference histograms of every feature (training rows) and every output (a hold-out sample
    of the same size, scored by onnxruntime on the exported bytes)."""
    hold_x, _ = spec.data(np.random.default_rng(OUTPUT_SAMPLE_SEED), spec.rows)
    hold_x = hold_x.astype(np.float32)
    names = [o.name for o in sess.get_outputs()]
    results = dict(zip(names, sess.run(None, {INPUT_NAME: hold_x})))
    outputs: dict[str, Any] = {}
    if spec.kind == "classifier":
        classes = [_py(c) for c in model.classes_]
        label_name, proba_name = names
        labels = [_py(v) for v in results[label_name]]
        probs_raw = results[proba_name]
        if spec.zipmap:
            probs = np.array([[m[c] for c in classes] for m in probs_raw], dtype=np.float32)
        else:
            probs = np.asarray(probs_raw, dtype=np.float32)
        outputs["label"] = {
            "kind": "categorical",
            "values": classes,
            "counts": [int(sum(1 for v in labels if v == c)) for c in classes],
        }
        for i in range(len(classes)):
            outputs[f"probabilities[{i}]"] = numeric_histogram(probs[:, i])
    else:
        outputs["value"] = numeric_histogram(np.asarray(results["variable"], dtype=np.float32).reshape(-1))
    return {
        "rows": int(x.shape[0]),
        "outputs_sample": {"rows": int(hold_x.shape[0]), "seed": OUTPUT_SAMPLE_SEED},
        "features": {name: histogram(x[:, i]) for i, name in enumerate(spec.features)},
        "outputs": outputs,
    }


def histogram(col: np.ndarray) -> dict[str, Any]:
    values, counts = np.unique(col.astype(np.float32), return_counts=True)
    if len(values) <= MAX_CATEGORIES and counts.min() >= MIN_CATEGORY_SHARE * len(col):
        return {
            "kind": "categorical",
            "values": [float(v) for v in values],
            "counts": [int(c) for c in counts],
        }
    return numeric_histogram(col)


def numeric_histogram(col: np.ndarray) -> dict[str, Any]:
    """DRIFT_BINS quantile bins: edges are observed values (duplicates dropped, the maximum never an
    edge); bin i holds the values v with edges[i-1] < v <= edges[i], the last bin those above."""
    v = np.sort(col.astype(np.float32))
    m = len(v)
    picks = [v[int(np.ceil(q * m)) - 1] for q in np.arange(1, DRIFT_BINS) / DRIFT_BINS]
    edges = sorted({float(e) for e in picks if e < v[-1]})
    counts = np.bincount(np.searchsorted(np.array(edges, dtype=np.float32), v, side="left"), minlength=len(edges) + 1)
    return {
        "kind": "numeric",
        "edges": edges,
        "counts": [int(c) for c in counts],
        "min": float(v[0]),
        "max": float(v[-1]),
    }


def reference_values(features: list[str], x: np.ndarray) -> dict[str, float]:
    """The median of each feature over the training rows (as the model sees them: float32)."""
    return {name: float(np.median(x[:, i].astype(np.float64))) for i, name in enumerate(features)}


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _params(model: Any) -> str:
    p = model.get_params()
    keys = ["n_estimators", "max_depth", "learning_rate", "random_state"]
    return ", ".join(f"{k}={p[k]}" for k in keys if k in p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "pipelines" / "models")
    ap.add_argument("--check", action="store_true", help="verify the committed models are reproducible")
    args = ap.parse_args()

    if args.check:
        tmp = Path(tempfile.mkdtemp(prefix="streamscore-models-"))
        try:
            bad = 0
            for spec in SPECS:
                got = export(spec, tmp)
                committed = args.out / spec.name / str(spec.version) / "model.onnx"
                want = hashlib.sha256(committed.read_bytes()).hexdigest() if committed.exists() else "(missing)"
                ok = want == got["sha256"]
                manifest = args.out / spec.name / str(spec.version) / "manifest.yaml"
                fresh = yaml.safe_load((tmp / spec.name / str(spec.version) / "manifest.yaml").read_text())
                kept = yaml.safe_load(manifest.read_text()) if manifest.exists() else {}
                if fresh.get("distributions") != kept.get("distributions"):
                    ok = False
                    print(f"DIFF {spec.name}/{spec.version} distributions differ from {manifest}")
                bad += not ok
                print(f"{'ok  ' if ok else 'DIFF'} {spec.name}/{spec.version} {got['sha256'][:16]} vs {want[:16]}")
            return 1 if bad else 0
        finally:
            shutil.rmtree(tmp)

    for spec in SPECS:
        got = export(spec, args.out)
        print(f"{got['path']}  {got['bytes']} bytes  sha256 {got['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
