import { Controller, Get, Header, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { Public } from '../../auth/auth.decorators.js';
import { DEFAULT_ORGANIZATION } from '../../organizations/organization.js';
import { readCallbackBody } from './read-callback-body.js';
import {
  MAX_CALLBACK_BYTES,
  WeComCallbackService,
  type CallbackQuery,
} from './wecom-callback.service.js';

/**
 * WeCom's callback URL, one per organisation: PUBLIC_BASE_URL + /wecom/callback/<slug> in the
 * organisation's app settings. The bare /wecom/callback is the `default` organisation's, as it was
 * before there were organisations.
 */
@ApiExcludeController()
@Public()
@Controller('wecom/callback')
export class WeComCallbackController {
  constructor(private readonly callbacks: WeComCallbackService) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  verifyDefault(@Query() query: CallbackQuery, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.verify(DEFAULT_ORGANIZATION.slug, query, reply);
  }

  /** The URL check: the decrypted echostr, alone, as text (errors stay JSON, hence no @Header). */
  @Get(':slug')
  @Header('Cache-Control', 'no-store')
  async verify(
    @Param('slug') slug: string,
    @Query() query: CallbackQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const plaintext = await this.callbacks.verifyUrl(slug, query);
    reply.type('text/plain; charset=utf-8');
    return plaintext;
  }

  @Post()
  @HttpCode(200)
  receiveDefault(@Query() query: CallbackQuery, @Req() req: FastifyRequest): Promise<string> {
    return this.receive(DEFAULT_ORGANIZATION.slug, query, req);
  }

  /** An event: an empty 200 once stored; handlers run after the answer. */
  @Post(':slug')
  @HttpCode(200)
  async receive(
    @Param('slug') slug: string,
    @Query() query: CallbackQuery,
    @Req() req: FastifyRequest,
  ): Promise<string> {
    // The organisation first: a body for a URL that names none is not even read.
    const organization = await this.callbacks.organizationFor(slug);
    await this.callbacks.receive(
      organization,
      query,
      await readCallbackBody(req, MAX_CALLBACK_BYTES),
    );
    return '';
  }
}
