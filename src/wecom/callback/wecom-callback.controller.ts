import { Controller, Get, Header, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { Public } from '../../auth/auth.decorators.js';
import { DEFAULT_ORGANIZATION } from '../../organizations/organization.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { readCallbackBody } from './read-callback-body.js';
import {
  MAX_CALLBACK_BYTES,
  WeComCallbackService,
  type CallbackQuery,
} from './wecom-callback.service.js';

/** WeCom's callback URL (set it to PUBLIC_BASE_URL + /wecom/callback in the app's settings). */
@ApiExcludeController()
@Public()
@Controller('wecom/callback')
export class WeComCallbackController {
  constructor(
    private readonly callbacks: WeComCallbackService,
    private readonly organizations: OrganizationsService,
  ) {}

  /** The URL check: the decrypted echostr, alone, as text (errors stay JSON, hence no @Header). */
  @Get()
  @Header('Cache-Control', 'no-store')
  verify(@Query() query: CallbackQuery, @Res({ passthrough: true }) res: Response): string {
    const plaintext = this.callbacks.verifyUrl(query);
    res.type('text/plain; charset=utf-8');
    return plaintext;
  }

  /** An event: an empty 200 once stored; handlers run after the answer. */
  @Post()
  @HttpCode(200)
  async receive(@Query() query: CallbackQuery, @Req() req: Request): Promise<string> {
    const body = await readCallbackBody(req, MAX_CALLBACK_BYTES);
    // The handlers started after the answer keep the scope.
    await this.organizations.within(DEFAULT_ORGANIZATION, () =>
      this.callbacks.receive(query, body),
    );
    return '';
  }
}
