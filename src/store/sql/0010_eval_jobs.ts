/** Migration 0010: evals run as durable jobs (issue 11). Never edit once applied. */
export const EVAL_JOBS_SQL = `
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('task_run', 'ingest', 'eval'));
`;
