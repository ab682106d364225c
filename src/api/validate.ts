import type { z } from 'zod';
import { GroundworkError } from '../kernel/errors.js';

/** Validates a value that fastify could not (e.g. a multipart field) with the same error shape. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: [where, ...i.path].join('/'), message: i.message }));
  throw new GroundworkError('REQUEST_INVALID_BODY', `request ${where} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
    details: { issues },
  });
}
