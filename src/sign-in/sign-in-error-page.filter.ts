import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { toProblem } from '../common/http-exception.filter.js';
import { currentRequestId } from '../common/request-context.js';

const TITLES: Record<number, string> = {
  400: '登录链接无效 · Sign-in link not valid',
  403: '无法登录 · Cannot sign you in',
  404: '找不到该组织 · Organisation not found',
  502: 'WeCom 暂时不可用 · WeCom is unavailable',
  503: '登录未开放 · Sign-in is not available',
};

/**
 * The sign-in routes are opened by a browser, not an API client: errors become a short HTML
 * page (same status, detail and request id as the problem details would give, no internals).
 */
@Catch()
export class SignInErrorPageFilter implements ExceptionFilter {
  private readonly logger = new Logger('WeComSignIn');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const body = toProblem(exception, req?.id ?? currentRequestId());
    if (body.status >= 500 && !(exception instanceof HttpException)) {
      const err = exception instanceof Error ? exception : new Error(String(exception));
      this.logger.error(
        `${req?.method} ${req?.url.replace(/[?#].*$/, '')} failed: ${err.message}`,
        err.stack,
      );
    }
    if (reply.sent) return;
    const title = TITLES[body.status] ?? '登录失败 · Sign-in failed';
    reply
      .status(body.status)
      .header('Cache-Control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><html><head><meta charset="utf-8">' +
          '<meta name="viewport" content="width=device-width, initial-scale=1">' +
          `<title>${escapeHtml(title)}</title></head><body>` +
          `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(body.detail)}</p>` +
          (body.requestId
            ? `<p><small>Request id: ${escapeHtml(body.requestId)}</small></p>`
            : '') +
          '</body></html>',
      );
  }
}

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}
