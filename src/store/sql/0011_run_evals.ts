/** Migration 0011: a run made by an eval names it (issue 11). Never edit once applied. */
export const RUN_EVALS_SQL = `
ALTER TABLE runs ADD COLUMN eval_id text;
CREATE INDEX runs_by_eval ON runs (tenant_id, eval_id) WHERE eval_id IS NOT NULL;
`;
