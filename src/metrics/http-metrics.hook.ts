import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

import type { MetricsService } from './metrics.service.js';

/** Times every request by its route pattern (`/api/messages/:id`, not the concrete path). */
export function httpMetricsHook(metrics: MetricsService) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    metrics.httpLatency.observe(
      {
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  };
}
