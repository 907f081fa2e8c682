import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebhookHandler } from './handler';

/**
 * Express: mount it before any body parser on its route (`app.post('/webhooks', expressWebhook(h))`).
 * If `express.raw()` ran first, its Buffer is used; a parsed JSON body cannot be verified and is refused.
 */
export function expressWebhook(handler: WebhookHandler) {
  return (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: (error?: unknown) => void) => {
    const raw = Buffer.isBuffer(req.body) || typeof req.body === 'string' ? req.body : undefined;
    if (req.body !== undefined && raw === undefined) return next(new Error('the webhook route needs the raw body: mount it before express.json()'));
    handler.handle(req, res, raw).catch(next);
  };
}

interface FastifyLike {
  addContentTypeParser(
    type: string,
    options: { parseAs: 'buffer'; bodyLimit?: number },
    parser: (req: unknown, body: Buffer, done: (error: Error | null, body?: Buffer) => void) => void,
  ): void;
  post(path: string, handler: (request: { raw: IncomingMessage; body: unknown }, reply: { hijack(): void; raw: ServerResponse }) => Promise<void>): void;
}

/**
 * Fastify: `app.register(fastifyWebhook(h, '/webhooks'))`. Inside its own plugin scope it keeps JSON
 * bodies as Buffers (a signature covers the exact bytes) and hands the response to the handler.
 */
export function fastifyWebhook(handler: WebhookHandler, path: string, bodyLimit = 1024 * 1024) {
  return async (app: FastifyLike) => {
    app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    app.post(path, async (request, reply) => {
      reply.hijack();
      await handler.handle(request.raw, reply.raw, request.body as Buffer | undefined);
    });
  };
}
