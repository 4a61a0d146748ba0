-- The table and row behind samples/debezium-*-event.json (database streamscore on the local stack).
-- Connectors: infra/local/connectors/debezium-postgres-{json,avro}.example.json; the samples are
-- the `c` (create) events of row id 2, taken with kcat from topics
-- stacksample.public.stack_sample_types (JSON) and stacksampleavro.public.stack_sample_types (Avro).
create table if not exists public.stack_sample_types (
  id         int primary key,
  big        bigint,
  amount     numeric(10,2),
  note       text,
  active     boolean,
  birth_date date,
  created_at timestamp,
  updated_at timestamptz,
  ext_id     uuid,
  attrs      jsonb
);

insert into public.stack_sample_types values
  (2, 9007199254740993, -12345.67, 'hello ✓', true, '1990-02-28',
   '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.123456+02',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"tier":"gold","n":[1,2]}');
