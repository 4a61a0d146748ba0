"""The churn pipeline as a Quix Streams application: the benchmark's Python peer.

Same job as `streamscore run pipelines/churn-scoring.yaml`: Debezium Avro events (Confluent wire
format, schemas from the registry) -> the same eight features -> the same ONNX model (GBT-100,
one intra-op thread) -> an order-guarded upsert into Postgres (a row is replaced only by a newer
source position; deletes remove older rows) and a JSON message per prediction on an output topic.

Written the way the Quix Streams docs build pipelines: a StreamingDataFrame with per-record
`apply` steps, `to_topic` for the output and a `BatchingSink` for the database (the sink gets the
rows of each checkpoint per partition and writes them in one statement). Offsets are committed at
each checkpoint after the sink has flushed.

Configuration through the environment (set by test/bench/peers/quixstreams.ts):
  KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL, QUIX_TOPIC, QUIX_GROUP, QUIX_OUTPUT_TOPIC,
  QUIX_TABLE (schema.table), QUIX_MODEL (path to model.onnx), QUIX_COMMIT_INTERVAL (s, default 1).
"""

import os

import numpy as np
import onnxruntime as ort
import psycopg
from quixstreams import Application
from quixstreams.models.serializers.avro import AvroDeserializer
from quixstreams.models.serializers.schema_registry import SchemaRegistryClientConfig
from quixstreams.sinks import BatchingSink, SinkBatch

MS_PER_DAY = 86_400_000.0
DAYS_PER_MONTH = 30.436875
SHIFT = 10**20


def epoch_ms(zoned: str | None) -> float | None:
    """Debezium ZonedTimestamp ('2024-01-15T11:45:30.123456Z') -> epoch ms."""
    if zoned is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(zoned.replace("Z", "+00:00")).timestamp() * 1000.0


class Scorer:
    """The churn features and the model, one record at a time."""

    def __init__(self, model_path: str):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_path, sess_options=opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def features(self, after: dict, ts_ms: int) -> list[float]:
        plan = after.get("plan")
        signup = after.get("signup_date")
        login = epoch_ms(after.get("last_login_at"))
        spend = after.get("monthly_spend")
        return [
            (ts_ms - signup * MS_PER_DAY) / (DAYS_PER_MONTH * MS_PER_DAY) if signup is not None else 0.0,
            float(spend) if spend is not None else 0.0,
            1.0 if plan == "enterprise" else 0.0,
            float(after["tickets_90d"]) if after.get("tickets_90d") is not None else 0.0,
            float(after["seats"]) if after.get("seats") is not None else 1.0,
            (ts_ms - login) / MS_PER_DAY if login is not None else 365.0,
            1.0 if plan == "basic" else 0.0,
            1.0 if plan == "pro" else 0.0,
        ]

    def __call__(self, event: dict) -> dict:
        source = event["source"]
        position = (source.get("ts_us") or source["ts_ms"] * 1000) * SHIFT + (source.get("lsn") or 0)
        op = event["op"]
        if op == "d":
            return {"customer_id": event["before"]["customer_id"], "op": "d", "position": position}
        x = self.features(event["after"], source["ts_ms"])
        label, probs = self.session.run(self.outputs, {self.input: np.asarray([x], dtype=np.float32)})
        p1 = probs[0][1]
        return {
            "customer_id": event["after"]["customer_id"],
            "op": op,
            "position": position,
            "churn_probability": float(p1),
            "churn_label": int(label[0]),
            "tenure_months": x[0],
        }


class PostgresUpsertSink(BatchingSink):
    """Order-guarded upserts and deletes of one checkpoint's rows, one transaction per batch."""

    def __init__(self, url: str, table: str):
        super().__init__()
        self.url = url
        self.table = table
        self.conn: psycopg.Connection | None = None

    def setup(self):
        self.conn = psycopg.connect(self.url, autocommit=False)
        with self.conn.cursor() as cur:
            schema = self.table.split(".")[0]
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(
                f"""create table if not exists {self.table} (
                      customer_id bigint primary key,
                      churn_probability double precision,
                      churn_label bigint,
                      tenure_months double precision,
                      model_name text not null,
                      model_version text not null,
                      source_position numeric not null,
                      scored_at timestamptz not null)"""
            )
        self.conn.commit()

    def write(self, batch: SinkBatch):
        latest: dict[int, dict] = {}
        for item in batch:
            row = item.value
            prev = latest.get(row["customer_id"])
            if prev is None or prev["position"] < row["position"]:
                latest[row["customer_id"]] = row
        upserts = [r for r in latest.values() if r["op"] != "d"]
        deletes = [r for r in latest.values() if r["op"] == "d"]
        assert self.conn is not None
        with self.conn.cursor() as cur:
            if deletes:
                cur.execute(
                    f"""delete from {self.table} t using unnest(%s::bigint[], %s::numeric[]) as s(customer_id, pos)
                        where t.customer_id = s.customer_id and t.source_position < s.pos""",
                    ([r["customer_id"] for r in deletes], [r["position"] for r in deletes]),
                )
            if upserts:
                cur.execute(
                    f"""insert into {self.table} as t (customer_id, churn_probability, churn_label, tenure_months,
                               model_name, model_version, source_position, scored_at)
                        select s.customer_id, s.p, s.label, s.tenure, 'churn', '1', s.pos, now()
                          from unnest(%s::bigint[], %s::float8[], %s::bigint[], %s::float8[], %s::numeric[])
                               as s(customer_id, p, label, tenure, pos)
                        on conflict (customer_id) do update set
                          churn_probability = excluded.churn_probability, churn_label = excluded.churn_label,
                          tenure_months = excluded.tenure_months, source_position = excluded.source_position,
                          scored_at = excluded.scored_at
                        where t.source_position < excluded.source_position""",
                    (
                        [r["customer_id"] for r in upserts],
                        [r["churn_probability"] for r in upserts],
                        [r["churn_label"] for r in upserts],
                        [r["tenure_months"] for r in upserts],
                        [r["position"] for r in upserts],
                    ),
                )
        self.conn.commit()


def main():
    env = os.environ
    registry = SchemaRegistryClientConfig(url=env["SCHEMA_REGISTRY_URL"])
    app = Application(
        broker_address=env["KAFKA_BROKERS"],
        consumer_group=env["QUIX_GROUP"],
        auto_offset_reset="earliest",
        commit_interval=float(env.get("QUIX_COMMIT_INTERVAL", "1")),
        loglevel="WARNING",
    )
    source = app.topic(
        env["QUIX_TOPIC"],
        key_deserializer=AvroDeserializer(schema_registry_client_config=registry),
        value_deserializer=AvroDeserializer(schema_registry_client_config=registry),
    )
    output = app.topic(env["QUIX_OUTPUT_TOPIC"], key_serializer="str", value_serializer="json")
    scorer = Scorer(env["QUIX_MODEL"])

    sdf = app.dataframe(source)
    sdf = sdf.filter(lambda e: e is not None and e.get("op") in ("c", "u", "r", "d"))
    sdf = sdf.apply(scorer)
    # The prediction message (the position as text: JSON numbers stop at 64 bits).
    out = sdf.apply(lambda r: {**r, "position": str(r["position"])})
    out.to_topic(output, key=lambda r: str(r["customer_id"]))
    sdf.sink(PostgresUpsertSink(env["DATABASE_URL"], env["QUIX_TABLE"]))
    app.run()


if __name__ == "__main__":
    main()
