/**
 * What the mock model says: scripted, schema-shaped, or plain text, and the broken variants the
 * content faults return. Kept apart from the HTTP server so each fault's shape is easy to read.
 */
import { exampleFromSchema, resolveSchema } from './json-schema-instance.js';

/** An OpenAI chat message as the mock reads it; content may be a string or content parts. */
export interface MockChatMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

/** The parsed body of `POST /v1/chat/completions` (only the fields the mock looks at are typed). */
export interface MockChatRequest {
  model?: string;
  messages: MockChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  response_format?: { type?: string; json_schema?: { name?: string; schema?: unknown } };
  max_tokens?: number;
  max_completion_tokens?: number;
  [key: string]: unknown;
}

/** The content of one reply before any fault is applied. */
export interface PlannedContent {
  text: string;
  /** The JSON value behind `text`, when the reply is JSON. */
  value?: unknown;
  /** The schema the reply was asked to follow, if any. */
  schema?: unknown;
}

export const PLAIN_REPLY = 'This is a reply from groundwork mock-llm, a fake model for testing.';
const PLAIN: PlannedContent = { text: PLAIN_REPLY };

export function planContent(request: MockChatRequest, respond: ((request: MockChatRequest) => string | object) | undefined): PlannedContent {
  const schema = requestedSchema(request);
  if (respond) {
    const scripted = respond(request);
    if (typeof scripted === 'string') return { text: scripted, schema };
    return { text: JSON.stringify(scripted), value: scripted, schema };
  }
  if (schema !== undefined) {
    const value = exampleFromSchema(schema);
    return { text: JSON.stringify(value), value, schema };
  }
  if (request.response_format?.type === 'json_object') {
    const value = { answer: PLAIN_REPLY };
    return { text: JSON.stringify(value), value };
  }
  return PLAIN;
}

/** `response_format.json_schema.schema` first, else a schema written into the system prompt. */
function requestedSchema(request: MockChatRequest): unknown {
  const format = request.response_format;
  if (format?.type === 'json_schema' && format.json_schema?.schema !== undefined) return format.json_schema.schema;
  for (const message of request.messages) {
    if (message.role !== 'system' && message.role !== 'developer') continue;
    const found = schemaInPrompt(messageText(message));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The first parseable `{...}` block after the word "schema", as prompt-only JSON modes write it. */
export function schemaInPrompt(prompt: string): unknown {
  const word = /schema/gi;
  for (let match = word.exec(prompt); match; match = word.exec(prompt)) {
    const start = prompt.indexOf('{', match.index);
    if (start < 0) return undefined;
    const end = matchingBrace(prompt, start);
    if (end < 0) continue;
    try {
      const parsed: unknown = JSON.parse(prompt.slice(start, end + 1));
      if (typeof parsed === 'object' && parsed !== null) return parsed;
    } catch {
      // Not JSON (a template placeholder, say); try the next mention of "schema".
    }
  }
  return undefined;
}

function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

export function messageText(message: MockChatMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      text += (part as { text: string }).text;
    }
  }
  return text;
}

/** Token counts are estimated as ceil(chars / 4): close enough for budget and cost tests. */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

export function promptChars(request: MockChatRequest): number {
  let chars = 0;
  for (const message of request.messages) chars += messageText(message).length;
  return chars;
}

/** The JSON value a content fault will break: the planned value, or plain text wrapped in an object. */
function jsonValue(content: PlannedContent): unknown {
  if (content.value !== undefined) return content.value;
  try {
    return JSON.parse(content.text);
  } catch {
    return { answer: content.text };
  }
}

/**
 * Broken JSON in rotation, from easily repaired to hopeless, so a repair step is exercised on both
 * sides of the line: trailing comma, unquoted keys, fenced with prose, cut mid-object.
 */
export function malformedContent(content: PlannedContent, occurrence: number): string {
  const value = jsonValue(content);
  const object = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { value };
  const json = JSON.stringify(object);
  switch (occurrence % 4) {
    case 0:
      return json === '{}' ? '{,}' : `${json.slice(0, -1)},}`;
    case 1: {
      const unquoted = json.replace(/"([A-Za-z_$][\w$]*)":/g, '$1:');
      return unquoted === json ? `{${Object.keys(object)[0] ?? 'result'}: true}` : unquoted;
    }
    case 2:
      return `\`\`\`json\n${JSON.stringify(object, null, 2)}\n\`\`\`\nLet me know if you need anything else!`;
    default: {
      // Keep the first member, then stop right after the next key: no repair can recover the value.
      const entries = Object.entries(object);
      const head = entries.length > 0 ? `${JSON.stringify(entries[0][0])}: ${JSON.stringify(entries[0][1])}, ` : '';
      const key = entries.length > 1 ? entries[1][0] : 'priority';
      return `{${head}${JSON.stringify(key)}:`;
    }
  }
}

/** Valid JSON that breaks the schema: alternately a missing required property and a wrong type. */
export function schemaViolationContent(content: PlannedContent, occurrence: number): string {
  const value = jsonValue(content);
  const schema = content.schema === undefined ? undefined : resolveSchema(content.schema, content.schema);
  const isPlainObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isPlainObject || typeof schema !== 'object') return JSON.stringify(wrongType(value));
  const object = { ...(value as Record<string, unknown>) };
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  const properties = (typeof schema.properties === 'object' && schema.properties) || {};
  const keys = Object.keys(object);
  // A property with exactly one declared type is one where any other type is surely invalid.
  const typedKey = keys.find((key) => {
    const property = resolveSchema((properties as Record<string, unknown>)[key], content.schema);
    return typeof property === 'object' && typeof property.type === 'string';
  });
  const dropRequired = (occurrence % 2 === 0 || typedKey === undefined) && required.length > 0;
  if (dropRequired && required[0] in object) {
    delete object[required[0]];
  } else if (typedKey !== undefined || keys.length > 0) {
    const key = typedKey ?? keys[0];
    object[key] = wrongType(object[key]);
  } else {
    return JSON.stringify(wrongType(object));
  }
  return JSON.stringify(object);
}

/** A value of a different JSON type, chosen so it cannot satisfy the original type. */
function wrongType(value: unknown): unknown {
  if (typeof value === 'string') return 12345;
  if (typeof value === 'number' || typeof value === 'boolean') return 'not-a-number';
  if (Array.isArray(value)) return { not: 'an array' };
  if (value === null) return 'null';
  return ['not', 'an', 'object'];
}

/** The first half of the reply, as a model stopped by max_tokens would leave it. */
export function truncatedContent(content: PlannedContent): string {
  const text = content.text;
  return text.slice(0, Math.max(1, Math.floor(text.length / 2)));
}
