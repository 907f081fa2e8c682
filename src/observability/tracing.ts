/**
 * OpenTelemetry traces, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and entirely off otherwise: no provider, no interceptor,
 * no header. A trace runs from the API request (`POST /graphql`, joining the caller's `traceparent`),
 * through the start of the workflow, the workflow itself (Temporal's OpenTelemetry interceptors, bundled
 * into the workflow code), to each attempt's activity; the attempt's POST carries a W3C `traceparent`,
 * so that the receiver can join the trace.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ClientInterceptors } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';

export interface Tracing {
  enabled: boolean;
  /** For the Temporal client: the workflow start carries the active trace context in its headers. */
  clientInterceptors?: ClientInterceptors;
  /** For the worker: activity spans, and the sink through which the workflow code exports its spans. */
  workerOptions: Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, workerOptions: {}, shutdown: async () => undefined };

/** One provider per process: `npm start` runs the API and the worker in one. */
let provider: { provider: NodeTracerProvider; processor: SpanProcessor; resource: Resource; users: number } | undefined;

export const tracingConfigured = (env: NodeJS.ProcessEnv = process.env): boolean =>
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());

/**
 * Starts tracing for this process if it is configured, or if `spanProcessor` is given (tests give an
 * in-memory exporter). The OTLP exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself.
 */
export function startTracing(serviceName: string, log: Pick<Logger, 'info'>, options: { spanProcessor?: SpanProcessor } = {}): Tracing {
  if (!options.spanProcessor && !tracingConfigured()) return OFF;
  if (!provider) {
    const resource = new Resource({ 'service.name': process.env.OTEL_SERVICE_NAME ?? serviceName });
    const processor = options.spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter());
    const tracerProvider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
    // Sets the global provider, the AsyncLocalStorage context manager and the W3C trace-context propagator.
    tracerProvider.register();
    provider = { provider: tracerProvider, processor, resource, users: 0 };
    if (!options.spanProcessor)
      log.info(
        { endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT },
        'OpenTelemetry traces exported over OTLP',
      );
  }
  const current = provider;
  current.users += 1;
  return {
    enabled: true,
    clientInterceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    workerOptions: {
      interceptors: {
        activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
      },
      sinks: { exporter: makeWorkflowExporter(current.processor, current.resource) },
    },
    async shutdown() {
      current.users -= 1;
      if (current.users > 0 || provider !== current) return;
      provider = undefined;
      await current.provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

export const tracingActive = (): boolean => provider !== undefined;

/**
 * Runs an API request inside a server span, child of the caller's `traceparent` if it sent one. Without
 * tracing it only calls `handle`.
 */
export function traceHttpRequest(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
  if (!provider) return handle();
  const parent = propagation.extract(context.active(), req.headers);
  const path = (req.url ?? '/').split('?')[0];
  const span = trace
    .getTracer('hookflow')
    .startSpan(`${req.method} ${path}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? '', 'url.path': path } }, parent);
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  context.with(trace.setSpan(parent, span), handle);
}

/** The headers of a webhook POST, with `traceparent` (and `tracestate`) of the active span when tracing is on. */
export function withTraceContext(headers: Record<string, string>): Record<string, string> {
  if (!provider) return headers;
  const carrier: Record<string, string> = { ...headers };
  propagation.inject(context.active(), carrier);
  return carrier;
}
