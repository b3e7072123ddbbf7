import {
  BadRequestException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { IncomingMessage } from 'node:http';

import type { FastifyRequest } from 'fastify';

/**
 * A refused body is still read (and dropped) up to this many times the limit, so that the
 * client gets its 413 on a healthy connection; past it, the sender is not a WeCom server and
 * its connection is cut.
 */
const DRAIN_FACTOR = 1024;

/**
 * Reads the raw XML body of a WeCom callback, at most `maxBytes`, as strict UTF-8.
 *
 * The app's parsers read JSON and form bodies only (app.setup.ts), so a text/xml body is still
 * unread here; reading it in place keeps the limit on this one route. A body a parser already
 * consumed was not XML.
 */
export function readCallbackBody(request: FastifyRequest, maxBytes: number): Promise<string> {
  const req = request.raw;
  if (request.body !== undefined || req.readableEnded) {
    return Promise.reject(new UnsupportedMediaTypeException('Callback body must be XML'));
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Answered at once, like the /api parsers do: the rest of the body is drained, not kept.
    const tooLarge = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      chunks.length = 0;
      drain(req, size, maxBytes * DRAIN_FACTOR);
      reject(new PayloadTooLargeException(`Callback body exceeds ${maxBytes} bytes`));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge();
      else chunks.push(chunk);
    };
    const onEnd = () => {
      try {
        resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
      } catch (error) {
        reject(new BadRequestException('Callback body is not valid UTF-8', { cause: error }));
      }
    };
    req.once('error', (error) =>
      reject(new BadRequestException('Callback body could not be read', { cause: error })),
    );
    if (Number(req.headers['content-length']) > maxBytes) {
      tooLarge();
      return;
    }
    req.on('data', onData);
    req.once('end', onEnd);
  });
}

/** Reads and drops what is left of a refused body, cutting the connection past `cap` bytes. */
function drain(req: IncomingMessage, alreadyRead: number, cap: number): void {
  let size = alreadyRead;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > cap) req.destroy();
  });
  req.resume();
}
