import {
  BadGatewayException,
  Inject,
  Injectable,
  ServiceUnavailableException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import { Clock } from '../../common/clock.js';
import { FrontendUrl } from '../../common/frontend-url.js';
import { ValidationProblemException } from '../../common/validation-problem.js';
import type { AppConfigService } from '../../config/app-config.js';
import { jssdkSignature, newNonce } from '../callback/jssdk-signature.js';
import { WeComApiError } from '../client/wecom-api.error.js';
import { WeComSettings } from '../wecom-settings.js';
import type { JssdkConfigDto } from './dto/jssdk-config.dto.js';
import { JsapiTicketProvider } from './jsapi-ticket.provider.js';

/**
 * Signs JS-SDK configs for our own pages only (a signature works for the exact URL it names),
 * with the tickets and the WeCom app of the caller's organisation.
 */
@Injectable()
export class JssdkService {
  private readonly frontend?: FrontendUrl;

  constructor(
    private readonly tickets: JsapiTicketProvider,
    private readonly settings: WeComSettings,
    private readonly clock: Clock,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const frontendUrl = config.get('FRONTEND_URL', { infer: true });
    if (frontendUrl) this.frontend = new FrontendUrl(frontendUrl);
  }

  async config(url: string): Promise<JssdkConfigDto> {
    if (!this.frontend) throw new ServiceUnavailableException('FRONTEND_URL is not configured');
    // The JS-SDK signs location.href.split('#')[0]: sign the caller's string, not a re-serialised one.
    const page = url.split('#')[0] as string;
    if (!this.frontend.contains(page)) {
      throw new ValidationProblemException([
        { field: 'url', message: 'url must be a page under FRONTEND_URL' },
      ]);
    }
    const { corpId, agentId } = await this.settings.credentials();
    if (corpId === '') {
      throw new ServiceUnavailableException('This organisation has no WeCom app configured');
    }
    let corpTicket: string;
    let agentTicket: string;
    try {
      [corpTicket, agentTicket] = await Promise.all([
        this.tickets.corpTicket(),
        this.tickets.agentTicket(),
      ]);
    } catch (error) {
      if (error instanceof WeComApiError) {
        throw new BadGatewayException('WeCom did not issue a JS-SDK ticket; try again', {
          cause: error,
        });
      }
      throw error;
    }
    const timestamp = Math.floor(this.clock.nowMs() / 1000);
    const nonceStr = newNonce(16);
    return {
      corpId,
      agentId,
      timestamp,
      nonceStr,
      signature: jssdkSignature(corpTicket, nonceStr, timestamp, page),
      agentSignature: jssdkSignature(agentTicket, nonceStr, timestamp, page),
    };
  }
}
