"""The FastAPI peer of the benchmark's API scenario (test/bench/api.ts).

What a team would write to serve the fraud model online without streamscore: FastAPI with a
bearer-token check (constant-time, several tokens), a pydantic model of the row (the columns of schemas/payments.transactions.avsc in their Debezium
JSON forms, unknown fields rejected), the fraud pipeline's six features written out by hand in
Python, and onnxruntime on pipelines/models/fraud/1/model.onnx (one intra-op thread, as
streamscore's sessions), one inference call per request. Run under uvicorn with uvloop and
httptools (uvicorn[standard]), one or more worker processes.

    POST /v1/pipelines/fraud-scoring/predict   {"after": {...columns}, "key"?: ...} or a list of them
        → {request_id, decision_id, key, outputs, model} for one record, {request_id, predictions} for a list
    GET  /readyz

Environment: PEER_MODEL (the .onnx file), PEER_TOKENS (comma-separated bearer tokens).
"""

from __future__ import annotations

import hmac
import math
import os
import uuid
from datetime import datetime, timezone
from typing import Any, Optional, Union

import numpy as np
import onnxruntime as ort
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict

MODEL = os.environ.get("PEER_MODEL", "pipelines/models/fraud/1/model.onnx")
DAY_MS = 86_400_000.0
TOKENS = [t.encode() for t in os.environ.get("PEER_TOKENS", "").split(",") if t]

opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
session = ort.InferenceSession(MODEL, sess_options=opts, providers=["CPUExecutionProvider"])
INPUT = session.get_inputs()[0].name
OUTPUTS = [o.name for o in session.get_outputs()]  # output_label, output_probability (ZipMap)


class Row(BaseModel):
    """public.transactions as Debezium's JSON converter writes it (Decimal as a number here)."""

    model_config = ConfigDict(extra="forbid")
    transaction_id: str
    card_id: int
    amount: float
    currency: str
    merchant_country: Optional[str]
    card_country: Optional[str]
    merchant_risk: Optional[float]
    velocity_1h: Optional[int]
    card_issued_on: Optional[int]  # io.debezium.time.Date: days since 1970-01-01
    created_at: datetime  # io.debezium.time.ZonedTimestamp: ISO-8601 with offset


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: Row
    key: Any = None


def features(r: Row, path: str) -> list[float]:
    """The pipeline's features (pipelines/fraud-scoring.yaml), in the model's input order."""
    if r.velocity_1h is None:
        raise HTTPException(422, f"{path}.after.velocity_1h: velocity_1h is null (on_null: reject)")
    created = r.created_at.astimezone(timezone.utc)
    created_ms = created.timestamp() * 1000.0
    card_age = 0.0 if r.card_issued_on is None else (created_ms - r.card_issued_on * DAY_MS) / DAY_MS
    return [
        math.log1p(r.amount),
        float(created.hour),
        1.0 if r.merchant_country != r.card_country else 0.0,
        0.5 if r.merchant_risk is None else r.merchant_risk,
        float(r.velocity_1h),
        card_age,
    ]


def authorized(authorization: Optional[str] = Header(default=None)) -> None:
    """401 unless the request carries one of the bearer tokens (compared in constant time)."""
    given = (authorization or "").removeprefix("Bearer ").encode()
    if not authorization or not any(hmac.compare_digest(given, t) for t in TOKENS):
        raise HTTPException(401)


app = FastAPI(title="fraud scoring (benchmark peer)")


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/pipelines/fraud-scoring/predict", dependencies=[Depends(authorized)])
async def predict(body: Union[Record, list[Record]]) -> dict[str, Any]:
    records = body if isinstance(body, list) else [body]
    x = np.array([features(r.after, f"[{i}]") for i, r in enumerate(records)], dtype=np.float32)
    labels, probabilities = session.run(OUTPUTS, {INPUT: x})
    predictions = [
        {
            "decision_id": str(uuid.uuid4()),
            "key": r.after.transaction_id,
            "outputs": {"fraud_probability": float(p["fraud"]), "fraud_label": str(label)},
            "model": {"name": "fraud", "version": "1"},
        }
        for r, label, p in zip(records, labels, probabilities)
    ]
    request_id = str(uuid.uuid4())
    if isinstance(body, list):
        return {"request_id": request_id, "predictions": predictions}
    return {"request_id": request_id, **predictions[0]}

