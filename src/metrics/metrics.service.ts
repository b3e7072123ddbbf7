import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric of this service, in one registry. Counters count what this instance
 * did (Prometheus sums the instances); gauges read shared state (outbox, token) at scrape time.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly messagesQueued = new Counter({
    name: 'smbw_messages_queued_total',
    help: 'Messages accepted into the outbox, by kind and msgtype',
    labelNames: ['kind', 'msgtype'],
    registers: [this.registry],
  });

  readonly messagesSettled = new Counter({
    name: 'smbw_messages_settled_total',
    help: 'Messages that reached a status after a delivery attempt, by kind and status',
    labelNames: ['kind', 'status'],
    registers: [this.registry],
  });

  readonly wecomCalls = new Counter({
    name: 'smbw_wecom_calls_total',
    help: 'HTTP calls to WeCom, by API path and errcode ("transport" when there was no answer)',
    labelNames: ['path', 'errcode'],
    registers: [this.registry],
  });

  readonly wecomLatency = new Histogram({
    name: 'smbw_wecom_call_duration_seconds',
    help: 'Latency of WeCom calls, by API path',
    labelNames: ['path'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly gettokenCalls = new Counter({
    name: 'smbw_wecom_gettoken_total',
    help: 'gettoken calls made by this instance',
    registers: [this.registry],
  });

  readonly tokenSecondsLeft = new Gauge({
    name: 'smbw_wecom_token_seconds_left',
    help: 'Seconds the cached access token has left (-1 when none is cached)',
    registers: [this.registry],
  });

  readonly outboxDepth = new Gauge({
    name: 'smbw_outbox_depth',
    help: 'Messages queued or being sent, across all instances',
    registers: [this.registry],
  });

  readonly outboxOldestAge = new Gauge({
    name: 'smbw_outbox_oldest_queued_seconds',
    help: 'Age of the oldest message still queued or being sent',
    registers: [this.registry],
  });

  readonly reminderLag = new Histogram({
    name: 'smbw_reminder_lag_seconds',
    help: 'Time from a reminder being due to its message being queued',
    buckets: [0.5, 1, 2, 5, 10, 15, 30, 60, 300],
    registers: [this.registry],
  });

  readonly httpLatency = new Histogram({
    name: 'smbw_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'smbw_' });
  }
}
