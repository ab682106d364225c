/**
 * Regenerates src/client/api-types.ts from the OpenAPI document the server serves:
 *
 *   npm run gen:client
 *
 * Run it after changing a route's schema; src/client/client.test.ts fails until you do.
 */
import { writeFileSync } from 'node:fs';
import { API_TYPES_FILE, generateApiTypes } from '../src/client/test-api-types.js';

writeFileSync(API_TYPES_FILE, await generateApiTypes());
console.log(`gen:client: wrote ${API_TYPES_FILE}`);
