import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Gateway, GatewayModel, StreamOut } from '../gateway/index.js';
import { Cancellation } from '../kernel/cancellation.js';
import { principalOf } from './auth.js';
import { errorBody } from './schemas.js';

/**
 * OpenAI-compatible endpoints, so the official `openai` client works with
 * `baseURL: <server>/v1`. The schemas below document the wire format; bodies are checked
 * by the gateway itself (typed GATEWAY_REQUEST_INVALID), which is cheaper on this hot path
 * than a schema pass and lets every field the gateway does not read pass through untouched.
 * Answers are sent as the bytes the provider (or the gateway) produced, never re-serialized.
 */

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
});

const chatCompletionRequest = z
  .looseObject({
    model: z.string().describe('a route (config `routes`) or a configured model (config `models`)'),
    messages: z.array(message).min(1),
    stream: z.boolean().optional().describe('server-sent events; a stream that breaks after it started ends with a `data: {"error":…}` event and no [DONE]'),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).optional(),
    max_tokens: z.number().int().positive().optional(),
    max_completion_tokens: z.number().int().positive().optional(),
    temperature: z.number().optional(),
  })
  .describe('OpenAI chat completions request; other OpenAI fields are passed to OpenAI-compatible providers unchanged');

const usage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });

const chatCompletion = z
  .looseObject({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.looseObject({
        index: z.number().int(),
        message: z.looseObject({ role: z.string(), content: z.string().nullable() }),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: usage.optional(),
  })
  .describe('OpenAI chat completion (or, with stream: true, text/event-stream of chat.completion.chunk events)');

const embeddingsRequest = z.looseObject({
  model: z.string().describe('a configured embedder (config `embedders`, or "builtin"), model or route'),
  input: z.union([z.string(), z.array(z.string()), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
});

const embeddingsResponse = z.looseObject({
  object: z.literal('list'),
  data: z.array(z.object({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) })),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});

const modelObject = z
  .object({
    id: z.string().describe("what a request's `model` names"),
    object: z.literal('model'),
    created: z.number().int().describe('always 0: configured names have no creation time (the same on every replica and restart)'),
    owned_by: z.string().describe('"groundwork:route", "groundwork:model:<provider>" or "groundwork:embedder"'),
  })
  .describe("A configured route, model or embedder, in OpenAI's model format");

const modelList = z.object({ object: z.literal('list'), data: z.array(modelObject) }).describe('Every configured route, model and embedder, ordered by id');

const errors = { 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 429: errorBody, 502: errorBody, 503: errorBody };

/** Bodies are validated by the gateway (see above). */
const passBody = () => (data: unknown) => ({ value: data });

export function gatewayRoutes(deps: { gateway: Gateway }): FastifyPluginAsyncZod {
  return async (server) => {
    // Reads: a viewer key may list what the gateway answers to (calling it needs runner).
    server.get(
      '/models',
      {
        schema: {
          tags: ['gateway'],
          summary: 'OpenAI-compatible list of the routes, models and embedders requests may name',
          response: { 200: modelList, 401: errorBody, 429: errorBody },
        },
      },
      async () => ({ object: 'list' as const, data: deps.gateway.models().map(presentModel) }),
    );

    server.get(
      '/models/:id',
      {
        schema: {
          tags: ['gateway'],
          summary: 'One configured route, model or embedder (OpenAI-compatible)',
          params: z.object({ id: z.string().min(1) }).strict(),
          response: { 200: modelObject, 401: errorBody, 404: errorBody, 429: errorBody },
        },
      },
      async (request) => presentModel(deps.gateway.model(request.params.id)),
    );

    server.post(
      '/chat/completions',
      {
        config: { role: 'runner' },
        validatorCompiler: passBody,
        schema: {
          tags: ['gateway'],
          summary: 'OpenAI-compatible chat completions (streaming included) through a route, with failover',
          body: chatCompletionRequest,
          response: { 200: chatCompletion, ...errors },
        },
      },
      async (request, reply) => {
        const result = await deps.gateway.chatCompletions({
          principal: principalOf(request),
          body: request.body,
          disconnect: disconnectOf(reply),
          logger: request.log,
        });
        reply.header('x-groundwork-run-id', result.runId);
        if (result.overSoftQuota) reply.header('x-groundwork-quota', 'soft-exceeded');
        if (result.type === 'json') return sendJsonText(reply, result.body);
        reply.hijack();
        await result.pipe(sseOut(request, reply));
        return reply;
      },
    );

    server.post(
      '/embeddings',
      {
        config: { role: 'runner' },
        validatorCompiler: passBody,
        schema: {
          tags: ['gateway'],
          summary: 'OpenAI-compatible embeddings',
          description:
            "OpenAI's limits per request, checked before any work: at most 2,048 inputs, 8,192 tokens an input and 300,000 tokens in total; past them 400 GATEWAY_REQUEST_INVALID naming `input` (or `input/<i>`). Token arrays count by their length; text counts as ⌈UTF-8 bytes / 3⌉ without a tokenizer, at or above the real count for English, code and most scripts (an upstream may still refuse denser text with its own 400).",
          body: embeddingsRequest,
          response: { 200: embeddingsResponse, ...errors },
        },
      },
      async (request, reply) => {
        const result = await deps.gateway.embeddings({
          principal: principalOf(request),
          body: request.body,
          disconnect: disconnectOf(reply),
          logger: request.log,
        });
        reply.header('x-groundwork-run-id', result.runId);
        if (result.overSoftQuota) reply.header('x-groundwork-quota', 'soft-exceeded');
        return sendJsonText(reply, result.body);
      },
    );
  };
}

/** OpenAI's model object; `created` is fixed (see the schema). */
function presentModel(entry: GatewayModel): z.infer<typeof modelObject> {
  const ownedBy = entry.kind === 'model' ? `groundwork:model:${entry.provider}` : `groundwork:${entry.kind}`;
  return { id: entry.id, object: 'model', created: 0, owned_by: ownedBy };
}

/** A JSON body that is already text (the provider's bytes): fastify sends a string with a JSON type as is. */
function sendJsonText(reply: FastifyReply, body: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(body);
}

/** Aborted when the client goes away before the answer was sent: the upstream call stops too. */
function disconnectOf(reply: FastifyReply): Cancellation {
  const disconnect = new Cancellation();
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) disconnect.abort();
  });
  return disconnect;
}

/** The raw response as an SSE sink (the reply is hijacked: fastify no longer writes it). */
function sseOut(request: FastifyRequest, reply: FastifyReply): StreamOut {
  const res = reply.raw;
  return {
    open() {
      res.writeHead(200, {
        ...(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      });
    },
    write(text) {
      if (res.destroyed || res.write(text)) return;
      return new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    end() {
      if (!res.destroyed) res.end();
      else request.log.debug({ run_id: reply.getHeader('x-groundwork-run-id') }, 'client left during the stream');
    },
  };
}
