import { ContextSlot } from './async-context.js';

export interface RequestContext {
  requestId: string;
}

/** Carries the request id through every await of a request, so each log line can name it. */
export const requestContext = new ContextSlot<RequestContext>('request');

export function currentRequestId(): string | undefined {
  return requestContext.get()?.requestId;
}
