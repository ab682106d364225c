/**
 * Test doubles for Groundwork users and our own suites. Nothing here is a production provider:
 * the mock model server only pretends to be one, loudly.
 */
export { startMockLlm } from './mock-llm.js';
export type { MockLlm, MockLlmOptions, MockStats, MockFaultRates, MockOutcome, MockChatMessage, MockChatRequest, MockEmbeddingRequest } from './mock-llm.js';
export { exampleFromSchema } from './json-schema-instance.js';
