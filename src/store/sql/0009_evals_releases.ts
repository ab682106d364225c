/** Migration 0009: golden datasets, eval records and task releases (issue 11). Never edit once applied. */
export const EVALS_RELEASES_SQL = `
-- A golden dataset: one immutable row per content hash (version) of a named dataset; the newest
-- row of a name is the dataset a gate reads.
CREATE TABLE eval_datasets (
  tenant_id  text        NOT NULL,
  name       text        NOT NULL,
  version    text        NOT NULL,
  task_name  text        NOT NULL,
  cases      jsonb       NOT NULL,
  case_count integer     NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, name, version)
);
CREATE INDEX eval_datasets_newest ON eval_datasets (tenant_id, name, created_at DESC);

-- One eval: a dataset version through a task version (and its baseline). While it runs its
-- holder renews lease_until; a running row whose lease ran out belongs to a process that died.
CREATE TABLE evals (
  tenant_id        text        NOT NULL,
  id               text        NOT NULL,
  task_name        text        NOT NULL,
  version          text        NOT NULL,
  baseline_version text,
  dataset_name     text        NOT NULL,
  dataset_version  text        NOT NULL,
  status           text        NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  gate_passed      boolean,
  report           jsonb,
  error            jsonb,
  created_by       text        NOT NULL,
  lease_until      timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at      timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX evals_by_version ON evals (tenant_id, task_name, version, created_at DESC);

-- Every change of a task's active version: a push that activated, a promotion through the gate,
-- an override (with its reason), a rollback. seq orders one task's releases.
CREATE TABLE task_releases (
  tenant_id    text        NOT NULL,
  task_name    text        NOT NULL,
  seq          integer     NOT NULL,
  action       text        NOT NULL CHECK (action IN ('push', 'promote', 'override', 'rollback')),
  from_version text,
  to_version   text        NOT NULL,
  actor        text        NOT NULL,
  reason       text,
  eval_id      text,
  evidence     jsonb,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, task_name, seq)
);

-- Tasks pushed before releases were recorded start with one: their active version, pushed.
INSERT INTO task_releases (tenant_id, task_name, seq, action, from_version, to_version, actor, created_at)
SELECT tenant_id, name, 1, 'push', NULL, active_version, 'migration', updated_at FROM tasks;
`;
