import type { RouteConfig, TaskDefinition } from './definition.js';

/** Shared test fixtures for task tests: a config with one usable route and a valid task. */

export const testRouteConfig: RouteConfig = {
  providers: {
    fake: { name: 'fake', type: 'openai-compatible', base_url: 'http://127.0.0.1:1/v1', native_structured_output: true },
    keyed: { name: 'keyed', type: 'openai-compatible', base_url: 'http://127.0.0.1:1/v1', native_structured_output: true, api_key_env: 'KEYED_API_KEY' },
  },
  models: {
    small: { name: 'small', provider: 'fake' },
    large: { name: 'large', provider: 'fake' },
    locked: { name: 'locked', provider: 'keyed' },
  },
  routes: { default: ['small', 'large'], needs_key: ['locked'] },
};

export function triageDefinition(overrides: Partial<TaskDefinition> = {}): Record<string, unknown> {
  return {
    name: 'triage',
    description: 'classify a ticket',
    input_schema: {
      type: 'object',
      additionalProperties: false,
      required: ['subject', 'body'],
      properties: {
        subject: { type: 'string' },
        body: { type: 'string', maxLength: 1000 },
        customer: { type: 'object', properties: { name: { type: 'string' } } },
        tags: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' } } } },
      },
    },
    output_schema: {
      type: 'object',
      required: ['category'],
      properties: { category: { enum: ['billing', 'bug', 'other'] }, summary: { type: 'string' } },
      additionalProperties: false,
    },
    prompt: { system: 'You triage tickets.', user: 'From {{customer.name}}: {{subject}}\n{{body}}{{#tags}} #{{label}}{{/tags}}' },
    route: 'default',
    ...overrides,
  };
}
