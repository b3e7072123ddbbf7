import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

export const JSON_MEDIA_TYPE = 'application/json';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The /api routes read JSON bodies only, in UTF-8: a body of any other media type (a form, text,
 * multipart, or none declared) or charset is a 415 naming the one accepted, before a parser
 * reads it.
 * A form would otherwise be parsed into strings that validation refuses field by field, and an
 * undeclared body would be ignored and answered as if it were empty.
 *
 * Routes outside /api are left alone: the WeCom callback reads its XML itself.
 */
export function requireJsonBody(
  req: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  if (!WITH_BODY.has(req.method) || !req.url.startsWith('/api/') || !hasBody(req)) {
    done();
    return;
  }
  const [type, ...parameters] = (req.headers['content-type'] ?? '').split(';');
  const mediaType = type.trim().toLowerCase();
  if (mediaType === JSON_MEDIA_TYPE) {
    // The parser reads UTF-8: a body in another charset would be stored garbled.
    const charset = parameters
      .map((p) => p.trim().toLowerCase())
      .find((p) => p.startsWith('charset='))
      ?.slice('charset='.length)
      .replace(/^"|"$/g, '');
    if (charset === undefined || charset === 'utf-8' || charset === 'utf8') {
      done();
      return;
    }
    const named = /^[\w.:-]{1,40}$/.test(charset) ? charset : 'an unrecognised one';
    done(
      new UnsupportedMediaTypeException(
        `This route takes ${JSON_MEDIA_TYPE} bodies in UTF-8 only, not in charset ${named}; send Content-Type: ${JSON_MEDIA_TYPE}`,
      ),
    );
    return;
  }
  // RFC 9110 15.5.16 asks for the accepted types: Accept-Patch (RFC 5789), Accept-Post (W3C LDP).
  if (req.method === 'PATCH') reply.header('Accept-Patch', JSON_MEDIA_TYPE);
  if (req.method === 'POST') reply.header('Accept-Post', JSON_MEDIA_TYPE);
  const given = !mediaType
    ? 'a body of no declared type'
    : /^[\w.+-]{1,64}\/[\w.+-]{1,64}$/.test(mediaType)
      ? `a body of type ${mediaType}`
      : 'a body of an unrecognised type';
  done(
    new UnsupportedMediaTypeException(
      `This route takes ${JSON_MEDIA_TYPE} bodies only, not ${given}; send Content-Type: ${JSON_MEDIA_TYPE}`,
    ),
  );
}

/** A declared, non-empty body: browsers send `Content-Length: 0` on a POST without one. */
function hasBody(req: FastifyRequest): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > 0;
}
