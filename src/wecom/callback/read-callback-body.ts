import {
  BadRequestException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { Request } from 'express';

/** Past this, an oversized upload is cut off instead of drained. */
const DRAIN_FACTOR = 16;

/**
 * Reads the raw XML body of a WeCom callback, at most `maxBytes`, as strict UTF-8.
 *
 * The app's global parsers handle JSON and urlencoded bodies only, so a text/xml body is still
 * unread here; reading it in place keeps the limit on this one route. A body some global parser
 * already consumed was not XML.
 */
export function readCallbackBody(req: Request, maxBytes: number): Promise<string> {
  if (req.body !== undefined || req.readableEnded) {
    return Promise.reject(new UnsupportedMediaTypeException('Callback body must be XML'));
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length']) > maxBytes;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (size > maxBytes * DRAIN_FACTOR) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (tooLarge) {
        reject(new PayloadTooLargeException(`Callback body exceeds ${maxBytes} bytes`));
        return;
      }
      try {
        resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
      } catch (error) {
        reject(new BadRequestException('Callback body is not valid UTF-8', { cause: error }));
      }
    });
    req.once('error', (error) =>
      reject(new BadRequestException('Callback body could not be read', { cause: error })),
    );
  });
}
