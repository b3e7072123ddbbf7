// Requests at an even, fixed rate (open loop), for the "p99 at N req/s" goals.
//
// autocannon's rate mode is not that: each connection sends its share of a second as fast as
// answers come back and then waits for the next second, so at 500 req/s over 100 connections
// every second starts with 100 requests at once, and its p99 is the time to answer a burst of
// 100 (about 100 / the route's req/s), whatever the rate. Here request i is due at i / rate
// seconds, sent then on a keep-alive pool, and its latency runs from when it was due, so a
// generator or a pool that falls behind is counted against the service (coordinated omission).
import { Agent, request } from 'node:http';

import { percentile } from './harness.js';

export interface SteadyRateOptions {
  url: string;
  rate: number;
  seconds: number;
  headers: Record<string, string>;
  path: () => string;
  /** Sockets the pool may open: requests due while all are busy wait for one, and it counts. */
  sockets?: number;
}

/** The figures the scenario tables print, named as autocannon's result names them. */
export interface Measured {
  requests: { average: number };
  latency: { p50: number; p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
}

export async function steadyRate(options: SteadyRateOptions): Promise<Measured> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.sockets ?? 100 });
  const total = Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const one = (dueAt: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        `${options.url}${options.path()}`,
        { agent, headers: options.headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - dueAt);
            if (res.statusCode! >= 200 && res.statusCode! < 300) ok++;
            else non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });

  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  while (sent < total) {
    // Everything due by now goes out now; then sleep until the next one is due.
    const now = performance.now();
    while (sent < total && started + sent * intervalMs <= now) {
      inFlight.push(one(started + sent * intervalMs));
      sent++;
    }
    const next = started + sent * intervalMs - performance.now();
    if (next > 0) await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(next))));
  }
  await Promise.all(inFlight);
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    requests: { average: Math.round((ok / elapsedS) * 10) / 10 },
    latency: {
      p50: Math.round(percentile(latencies, 50) * 10) / 10,
      p99: Math.round(percentile(latencies, 99) * 10) / 10,
    },
    '2xx': ok,
    non2xx,
    errors,
  };
}
