/** Migration 0007: disabling and deleting tenants (src/auth/auth-service.ts). Never edit once applied. */
export const TENANT_LIFECYCLE_SQL = `
-- A disabled tenant keeps its data, but none of its API keys authenticates (the key lookup
-- joins this row); enabling it clears the column and its keys work again.
ALTER TABLE tenants ADD COLUMN disabled_at timestamptz;

-- Deleting a tenant removes its row here and every row of it in every tenant-scoped table, in
-- one transaction, and leaves this tombstone: the id can never be created again, so no later
-- tenant inherits rows that work still in flight at the deletion might write under it.
CREATE TABLE deleted_tenants (
  id         text        PRIMARY KEY,
  name       text        NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
`;
